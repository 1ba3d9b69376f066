"""Evaluation: how right predicted utilities are (:mod:`pnyx.evaluate.accuracy`, held-out protocols) and
what a chosen slate gives the people who rated it (:mod:`pnyx.evaluate.slate`)."""
