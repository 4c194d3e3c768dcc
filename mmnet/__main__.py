import sys

from mmnet.cli.main import main

sys.exit(main())
