"""Dev/test tooling only: the local control plane, the dev node agent and the local exchange server.

Used by the test suite and the local demo (``scripts/demo.sh``). Production clusters use a real
kubelet and real exchanges; nothing in the operator or the runtime imports this package.
"""
