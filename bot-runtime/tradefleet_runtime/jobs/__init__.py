"""One-shot workloads of the runtime image (the optimization Job), as opposed to the long-running bot."""
