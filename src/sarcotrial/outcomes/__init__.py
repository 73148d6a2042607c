"""Outcome statistics for the final paper, matching R to the digit.

One estimator per module, each a ``fit``-style function returning a frozen result:

* :mod:`.kaplan_meier` - Kaplan-Meier with Greenwood variance, ``log``/``log-log``/``plain`` CIs,
  median and its CI by ``quantile.survfit``, landmarks, reverse Kaplan-Meier (R ``survfit``).
* :mod:`.competing_risks` - Aalen-Johansen cumulative incidence with cmprsk's delta-method
  variance (or survfit's infinitesimal jackknife) and Gray's test (R ``cmprsk::cuminc``).
* :mod:`.logrank` - the log-rank test (R ``survdiff``).
* :mod:`.cox` - Cox proportional hazards, Efron or Breslow ties (R ``coxph``).
* :mod:`.binomial` - exact binomial test and Clopper-Pearson interval (R ``binom.test``).
* :mod:`.design` - Simon two-stage, A'Hern single-stage, Bayesian toxicity monitoring, Schoenfeld's
  two-arm events and sample size.

R is the reference, never a dependency: the oracle scripts and their saved output live in
``tests/oracles/r``.
"""

from sarcotrial.outcomes.binomial import BinomialTest, binomial_test, clopper_pearson
from sarcotrial.outcomes.competing_risks import (CompetingRisksFit, CumulativeIncidence, GrayTest, IncidenceAt,
                                                 cumulative_incidence, fit_cumulative_incidence, gray_test)
from sarcotrial.outcomes.cox import CoxFit, fit_cox
from sarcotrial.outcomes.design import (AHernDesign, SchoenfeldEvents, SchoenfeldSampleSize, SimonDesign, StageDesign,
                                        ToxicityMonitor, ahern_single_stage, schoenfeld_events, schoenfeld_sample_size,
                                        simon_two_stage)
from sarcotrial.outcomes.kaplan_meier import KaplanMeier, Landmarks, fit_kaplan_meier, fit_kaplan_meier_groups
from sarcotrial.outcomes.logrank import LogRankTest, logrank_test

__all__ = [
    "AHernDesign", "BinomialTest", "CompetingRisksFit", "CoxFit", "CumulativeIncidence", "GrayTest", "IncidenceAt",
    "KaplanMeier", "Landmarks", "LogRankTest", "SchoenfeldEvents", "SchoenfeldSampleSize", "SimonDesign", "StageDesign", "ToxicityMonitor", "ahern_single_stage",
    "binomial_test", "clopper_pearson", "schoenfeld_events", "schoenfeld_sample_size", "cumulative_incidence", "fit_cox", "fit_cumulative_incidence",
    "fit_kaplan_meier", "fit_kaplan_meier_groups", "gray_test", "logrank_test", "simon_two_stage",
]
