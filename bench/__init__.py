"""Benchmarks of spectorgen's generated code, its peers and the generator itself.

Run with `make bench` or `python -m bench [--quick] [--only NAME]`. Never part of
`make test`: no module here is named `test_*`.
"""
