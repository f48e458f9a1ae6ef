#!/bin/bash
# EC2 client bootstrap, rendered by pinctl for stack ${stack.name} env ${stack.env}.
# Installs the pinctl workers shipped to s3://${vars.bucket}/${vars.prefix} and starts their units.
set -euo pipefail
export AWS_DEFAULT_REGION=${vars.region}
install -d -m 0755 /etc/pinctl /opt/pinctl/bin
# The workers are uploaded by `pinctl up` while this instance boots: wait for them.
until aws s3 cp "s3://${vars.bucket}/${vars.prefix}pinctl" /opt/pinctl/bin/pinctl; do sleep 10; done
chmod 0755 /opt/pinctl/bin/pinctl
ln -sf /opt/pinctl/bin/pinctl /usr/local/bin/pinctl
aws s3 cp --recursive "s3://${vars.bucket}/${vars.prefix}files/" /etc/pinctl/
for unit in /etc/pinctl/*.service; do
  install -m 0644 "$unit" /etc/systemd/system/
done
systemctl daemon-reload
for unit in /etc/pinctl/*.service; do
  systemctl enable --now "$(basename "$unit")"
done
