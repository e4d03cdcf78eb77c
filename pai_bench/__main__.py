from pai_bench.cli import main

raise SystemExit(main())
