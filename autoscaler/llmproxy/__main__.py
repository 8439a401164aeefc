from autoscaler.llmproxy.cli import main

raise SystemExit(main())
