"""``kubectl tradefleet``: a kubectl plugin for a fleet of TradingBots.

Installed as the ``kubectl-tradefleet`` console script (kubectl finds it on ``PATH``) and runnable
as ``python -m tradefleet_kubectl``. :mod:`tradefleet_kubectl.cli` parses the command line; the
other modules read the bots from the apiserver (:mod:`tradefleet_kubectl.cluster`), turn them into
facts (:mod:`tradefleet_kubectl.facts`), show them (:mod:`tradefleet_kubectl.status_view`),
answer questions about them (:mod:`tradefleet_kubectl.ask`), change them the way the operator
reads changes (:mod:`tradefleet_kubectl.actions`) and bundle them for a bug report
(:mod:`tradefleet_kubectl.report`). The plugin speaks the operator's vocabulary
(:mod:`tradefleet_operator.spec.vocabulary`) and never imports its reconciler.
"""
