"""`python -m bench`: run the benchmark suite and write bench/results/latest.*."""

from bench.runner import main

raise SystemExit(main())
