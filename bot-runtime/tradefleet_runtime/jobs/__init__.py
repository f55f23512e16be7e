"""One-shot workloads of the runtime image (the optimisation Job), as opposed to the long-running bot."""
