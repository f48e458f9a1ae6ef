"""Corrections to moto server where it answers differently from AWS, loaded by moto_server only.

scripts/setup.sh installs this module into the moto venv with a .pth file that imports it at
interpreter start; it patches nothing unless the program is moto_server. Each correction names
the AWS API reference that documents the answer AWS gives. A stand-in that answers what AWS does
not is a bug in the stand-in: each one here was found by pinctl's provider conformance suite.
"""

import os
import sys


def _apply():
    from moto.apigateway import models as apigateway
    from moto.apigateway.exceptions import RestAPINotFound

    # DeleteRestApi of an unknown id: AWS answers 404 NotFoundException (API Gateway API
    # Reference, DeleteRestApi, Errors); moto 5.2 raises KeyError, served as a 500.
    delete_rest_api = apigateway.APIGatewayBackend.delete_rest_api

    def _delete_rest_api(self, function_id):
        if function_id not in self.apis:
            raise RestAPINotFound()
        return delete_rest_api(self, function_id)

    apigateway.APIGatewayBackend.delete_rest_api = _delete_rest_api


if os.path.basename(sys.argv[0] if sys.argv else "") == "moto_server":
    _apply()
