.PHONY: demo test

# The whole pipeline on this machine (see README.md).
demo:
	scripts/demo.sh

# The whole test suite, installing what it needs.
test:
	scripts/test.sh
