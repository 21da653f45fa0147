"""What the engine's models share, in one place: default configurations of the binary
hierarchical model (which the linked-rounds model extends), the dims of its posterior, and
the checks of a configuration.

Nothing here imports PyMC, PyTensor or numba: the fast density (density.py), the PyMC
statement (hierarchical.py) and the linked-rounds model (rounds.py) all read it, and none
of them imports another for it.
"""

import numbers

DEFAULT_MODEL_CONFIG: dict = {
    "nu": 4.0,  # Student-t degrees of freedom of the likelihood (1)
    "mu_sd": 2.0,  # prior sd of the consensus log-odds: 95 % of mass in p = 0.02..0.98
    "bias_scale_sd": 1.0,  # HalfNormal sd of the spread of expert biases (log-odds)
    "sigma_scale_sd": 0.5,  # HalfNormal sd of the spread of log expert noise
    # HalfNormal sd of the spread of log expert slopes (version 5): how much experts differ
    # in how far they move from 50 % for the same evidence (Merkle et al. 2016)
    "slope_scale_sd": 0.5,
    "log_kappa_mean_mu": 0.0,  # typical disagreement around 1 log-odds unit
    "log_kappa_mean_sd": 1.0,
    "kappa_scale_sd": 0.5,  # HalfNormal sd of the spread of log disagreement
    # The cohort scales are weakly informative (version 3): with 0.5 the prior pulled the
    # question-level gap scale towards 0 and the lean towards none, so small panels
    # over-shrank their gaps and the gaps' 90 % intervals held the truth 85 % of the time;
    # with 1.0, 87-90 % on the same 80 simulated panels (bench/README.md, issue 11).
    "delta_scale_sd": 1.0,  # HalfNormal sd of the scale of cohort deviations (log-odds)
    "lean_sd": 1.0,  # sd of each cohort's lean, its deviation common to every question
    "parametrization": "noncentered",  # or "centered" (see centred_components)
}
# 4 chains because the split R-hat of 2 chains is too noisy to hold 1.01 over hundreds of
# reported quantities. "draws" "auto" is 1,500 per chain, and 2,000 above AUTO_DRAWS_ABOVE
# reported quantities. Before version 5, 250 tuning draws and 1,000 held R-hat <= 1.01 over
# the 700 reported quantities of 200 experts x 60 questions (800 did not always), and at
# 2,000 experts x 200 questions (5,000 quantities) the largest reached 1.011 with 1,000.
# Version 5's slopes multiply the consensus, a coupling the sampler takes longer to learn
# and to mix: on the recovery tests' 60 x 30 panel (seed 7) the largest R-hat, a slope's,
# was 1.011 after 250 tuning draws and 1.010 after 500 with 1,000 draws, 1.006 with 1,500
# (seed 8: 1.006, 1.009, 1.006); so 500 tuning draws and 1,500 draws.
# target_accept 0.9 since version 5 (nutpie's default is 0.8): on small dense panels
# whose disagreement hardly varies between questions, 0.8 let through a rare divergence
# (1 in 96,000 draws over 24 panels of 24 x 12 experts x questions) and 0.85 none, until
# the slopes: then 0.85 let through 1 in 6,000 on the recovery tests' 24 x 12 panel (seed
# 1), 0.9 none over four fits. Before the slopes, 0.9 took 17-19 leapfrog steps per draw
# at 200 x 60 against 15 (30 % more time).
# backend "density": the hand-written density (density.py); "pymc": the PyMC model compiled
# by nutpie (slower to start, needed for the centred variant; the benchmark compares them).
DEFAULT_SAMPLER_CONFIG: dict = {
    "chains": 4,
    "tune": 500,
    "draws": "auto",
    "cores": None,
    "target_accept": 0.9,
    "backend": "density",
}

TRACE_DIMS = {  # the variables kept in the posterior, with their dims
    "mu_question": ("question",),
    "delta_cohort": ("question", "cohort"),
    "bias_expert": ("expert",),
    "slope_expert": ("expert",),
    "sigma_expert": ("expert",),
    "kappa_question": ("question",),
    "delta_scale": (),
    "bias_scale": (),
    "sigma_scale": (),
    "slope_scale": (),
    "log_kappa_mean": (),
    "kappa_scale": (),
    "cohort_lean": ("cohort",),
}
TRACE_VARS = list(TRACE_DIMS)


# the prior scales and nu: divided by, so they must be positive
POSITIVE_MODEL_KEYS = (
    "nu",
    "mu_sd",
    "bias_scale_sd",
    "sigma_scale_sd",
    "slope_scale_sd",
    "log_kappa_mean_sd",
    "kappa_scale_sd",
    "delta_scale_sd",
    "lean_sd",
)


class ModelConfigError(ValueError):
    """An unknown or invalid setting was passed to the model."""


def positive_whole(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1


def merge_config(
    defaults: dict, overrides: dict | None, name: str, error: type[ValueError] = ModelConfigError
) -> dict:
    """The defaults with the overrides applied; an unknown key raises ``error``."""
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        raise error(
            f"unknown {name} key(s): {', '.join(unknown)}; known: {', '.join(sorted(defaults))}"
        )
    return {**defaults, **overrides}
