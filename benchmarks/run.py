"""Every benchmark in one process, one table of ratios: the same as `nndl bench`.

python benchmarks/run.py --data-root /tmp/data     # CIFAR-10 image folder under /tmp/data
python benchmarks/run.py --only loop,attacks --repeats 11
"""

import sys

from nndl.bench_suite import main

if __name__ == "__main__":
    sys.exit(main())
