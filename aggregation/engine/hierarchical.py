"""The hierarchical model of binary judgments (DESIGN.md, "The binary-question model").

Expert i gives probability p_ij for question j. On the log-odds scale, y_ij = logit(p_ij)
after clipping to [0.005, 0.995] (``data.clip_probabilities``), and

    y_ij ~ Student-t(nu, b_i + a_i (mu_j + delta_{g(i) j}), sigma_i * kappa_j)    (1)

- mu_j       consensus: the log-odds a typical expert would give, cohorts weighed equally
             (mu_j ~ Normal(0, mu_sd)); reported as expit(mu_j);
- delta_gj   cohort deviation of cohort g on question j, zero-sum over cohorts:
             delta_gj = lambda_g + d_gj, a lean lambda_g common to every question
             (ZeroSumNormal over cohorts, sd lean_sd) plus a question's own part d_gj
             (ZeroSumNormal over questions and cohorts, scale delta_scale ~ HalfNormal,
             so the lean is each cohort's mean deviation). Without the lean, a
             view one cohort holds on every question had to be re-learned question by
             question against a prior centred on no gap, and the gaps' 90 % intervals held
             the truth 76 % of the time on small panels with a lean (85 % without one;
             with it 0.85 and 0.83, bench/README.md); the lean is identified from all
             questions together, and the expert biases, zero on average within each
             cohort, cannot absorb it. Cohort g's belief is expit(mu_j + delta_gj) and the gap between cohorts a and b is the difference
             of those, with P(a > b) = P(delta_aj > delta_bj);
- b_i        expert bias, shared across questions and zero on average over each
             cohort's answers, so it cannot absorb a cohort's shared view (ZeroSumNormal
             per cohort, scale bias_scale ~ HalfNormal, then ``centred_by_answers``:
             averaged over the experts instead, an expert who answered twice fixed the
             consensus's level as much as one who answered forty times);
- a_i        expert slope: how far expert i moves from 50 % for what moves a typical
             expert by one log-odds unit (log a_i is ZeroSumNormal within each cohort, as
             b_i is, scale slope_scale ~ HalfNormal, then ``normalized_by_answers``: the
             slopes average 1 over the cohort's answers, so the consensus is on the
             average answer's scale, as the log-odds mean is, not on the geometric mean's,
             which is nearer 50 %). People differ in how much of the probability scale
             they use (Merkle, Steyvers, Mellers & Tetlock 2016, "Item response models of
             probability judgments", Decision 3(1):1-19, give each forecaster such a
             discrimination). Without it (version 4) an expert who answers 10 % and 90 %
             where the panel says 40 % and 60 % looked noisy and lost weight, though they
             ranked the questions as the panel did; on two real panels that cost the
             consensus more than anything else (DESIGN.md);
- sigma_i    expert noise relative to a typical expert (log sigma is ZeroSumNormal over
             experts, scale sigma_scale ~ HalfNormal: geometric mean 1): 1.5 means answers 50 % more
             scattered than a typical panelist; noisy experts get less weight by (1);
- kappa_j    disagreement: the scale (log-odds) of a typical expert's deviations on question
             j beyond bias and cohort; log kappa_j ~ Normal(log_kappa_mean, kappa_scale),
             partially pooled. Larger means more contested.

Cohorts are compared through the questions they share: when no two cohorts share a
question (each answered its own), no deviation could be told apart from the consensus of
those questions, so the model pools the cohorts (no delta) and keeps each cohort's biases
averaging 0 (and, since version 5, its slopes averaging 1) on their own
(``cohort_components``).

Student-t with fixed nu (default 4) makes the fit robust to the odd 0 % or 100 % answer
(Gelman et al. 2013, BDA3 §17.2). Every group-level effect is non-centred by default
(Betancourt & Girolami 2015): the centred form (``parametrization="centered"``) diverged
whenever a group's scale was near zero, which real panels do produce.

The likelihood (1) is a Potential computed by ``likelihood.PanelStudentTLogp``, a fused
kernel that returns the log-likelihood and its gradient in one pass over the judgments
(a fraction of the cost of PyTensor's generic graph; tested against ``pm.logp``).

Fitting: ``build_model`` is the statement of the model. By default nutpie samples it
through ``density.py``, the same log density written out in numba and held to
``model.logp()`` and its gradient by the tests; it is compiled once per machine and cached
on disk, so a new process starts sampling in about a second instead of compiling for 8 s
or more (bench/README.md). With ``sampler_config={"backend": "pymc"}`` (required for the
centred variant) nutpie compiles the PyMC model itself; that compiled model is kept per
(version, configuration, shape) for the life of the process, and a refit with new data of
the same shape only swaps the data (``with_data``).
"""

import dataclasses
import json
import math
import numbers
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from aggregation.engine.data import JudgmentTable, logit
from aggregation.engine.posterior import ProgressCallback, sample, tree_load, tree_save
from aggregation.engine.spec import (  # noqa: F401  (ModelConfigError: raised to callers)
    DEFAULT_MODEL_CONFIG,
    DEFAULT_SAMPLER_CONFIG,
    POSITIVE_MODEL_KEYS,
    TRACE_DIMS,
    TRACE_VARS,
    ModelConfigError,
    merge_config,
    positive_whole,
)

MODEL_NAME = "binary_hierarchical"
# 2: the cohort lean (2026-12-06); 3: weaker cohort-scale priors (2026-12-07); 4: cohorts that
# share no question are pooled (cohort_components; 2026-12-07); 5: each expert's slope a_i
# (2026-12-07); 6: biases average 0 and slopes 1 over the answers, not the experts
# (centred_by_answers, normalized_by_answers; 2026-12-08)
MODEL_VERSION = "6"


@dataclass(frozen=True)
class BinaryPanelData:
    """One round of binary judgments, integer-coded for the model.

    Attributes
    ----------
    experts, questions, cohorts : labels; cohorts and questions sorted, experts grouped by
        cohort in that order and sorted within it
    y : (n_judgments,) log-odds of the clipped probabilities
    probability : (n_judgments,) the answers as given
    expert_idx, question_idx : (n_judgments,) integer codes into experts / questions
    cohort_of_expert : (n_experts,) integer code into cohorts
    bias_block_of_expert : (n_experts,) the expert's own cohort (code into the table's
        sorted cohorts): expert biases average to zero (over the answers) within each block
    pooled_cohorts : when the model pools the cohorts (``cohorts`` is then
        [POOLED_COHORT]: no two cohorts share a question), each cohort as a group of one
        (``cohort_components``); else empty
    data_hash : hash of the table these arrays came from
    """

    experts: list[str]
    questions: list[str]
    cohorts: list[str]
    y: np.ndarray
    probability: np.ndarray
    expert_idx: np.ndarray
    question_idx: np.ndarray
    cohort_of_expert: np.ndarray
    round_number: int
    data_hash: str
    bias_block_of_expert: np.ndarray
    pooled_cohorts: tuple[tuple[str, ...], ...] = ()

    @classmethod
    def from_table(cls, table: JudgmentTable) -> "BinaryPanelData":
        if len(table.rounds) != 1:
            raise ValueError(
                f"the hierarchical model fits one round at a time; this table holds rounds "
                f"{table.rounds} (select one with table.for_round(n))"
            )
        frame = table.frame
        questions = table.questions
        expert_cohort = frame.drop_duplicates("expert").set_index("expert")["cohort"]
        # Alphabetical, so that a gap "a - b" keeps its direction from one round to the next.
        cohorts = sorted(expert_cohort.unique())
        # Experts grouped by cohort: each cohort's biases are one zero-sum block.
        rank = {c: g for g, c in enumerate(cohorts)}
        experts = sorted(table.experts, key=lambda e: (rank[expert_cohort[e]], e))
        expert_code = {e: i for i, e in enumerate(experts)}
        question_code = {q: j for j, q in enumerate(questions)}
        cohort_code = {c: g for g, c in enumerate(cohorts)}
        own_cohort = np.array([cohort_code[expert_cohort[e]] for e in experts], dtype=np.int64)
        pooled = cohorts_to_pool(frame)
        return cls(
            experts=experts,
            questions=questions,
            cohorts=[POOLED_COHORT] if pooled else cohorts,
            y=logit(frame["probability"].to_numpy()),
            probability=frame["probability"].to_numpy(dtype=float),
            expert_idx=frame["expert"].map(expert_code).to_numpy(dtype=np.int64),
            question_idx=frame["question"].map(question_code).to_numpy(dtype=np.int64),
            cohort_of_expert=np.zeros_like(own_cohort) if pooled else own_cohort,
            round_number=int(table.rounds[0]),
            data_hash=table.data_hash(),
            bias_block_of_expert=own_cohort,
            pooled_cohorts=pooled,
        )

    @property
    def n_judgments(self) -> int:
        return int(self.y.size)

    @property
    def shape(self) -> tuple[int, int, int]:
        return len(self.experts), len(self.questions), len(self.cohorts)

    def count_per_cell(self) -> np.ndarray:
        """(n_questions, n_cohorts) number of answers per question and cohort."""
        counts = np.zeros((len(self.questions), len(self.cohorts)), dtype=np.int64)
        np.add.at(counts, (self.question_idx, self.cohort_of_expert[self.expert_idx]), 1)
        return counts

    def model_arrays(self) -> dict[str, np.ndarray]:
        """The pm.Data values of the model, by name (what ``with_data`` swaps).

        Few, packed arrays on purpose: nutpie's compiled wrapper costs about half a second
        of compile time per data array.
        """
        n_cohorts = len(self.cohorts)
        cell = self.question_idx * n_cohorts + self.cohort_of_expert[self.expert_idx]
        # sorted by cell: the likelihood kernel keeps a run of one cell's terms in registers
        order = np.argsort(cell, kind="stable")
        return {
            "y": self.y[order].astype(float),
            # rows: expert, question, and question x cohort cell (index into delta.ravel())
            # unsigned: the kernel's indexing then skips numba's negative-index check
            "judgment_idx": np.stack([self.expert_idx, self.question_idx, cell])[:, order].astype(
                np.uint32
            ),
        }

    @property
    def cohort_sizes(self) -> list[int]:
        return np.bincount(self.cohort_of_expert, minlength=len(self.cohorts)).tolist()

    @property
    def bias_block_sizes(self) -> list[int]:
        """Experts in each block whose biases average to zero: each cohort's, in cohort order
        (also when the model pools the cohorts' deviations)."""
        return np.bincount(self.bias_block_of_expert).tolist()


POOLED_COHORT = "all cohorts"  # the one cohort of a model whose cohorts were pooled


def centred_by_answers(values, answers, block_sizes):
    """``values`` (E,) minus, block by block (contiguous, of ``block_sizes``), their mean
    weighted by ``answers`` (E,), each expert's number of answers: a PyTensor expression
    (DESIGN.md, "Which expert is typical").

    Applied to zero-sum biases, it keeps their differences (and so their prior's) and
    moves only the level: an expert's bias is then zero on average over the answers, not
    over the experts. When every expert answered equally often it changes nothing.
    """
    import pytensor.tensor as pt

    parts, first = [], 0
    for size in block_sizes:
        block, weight = values[first : first + size], answers[first : first + size]
        parts.append(block - pt.sum(weight * block) / pt.sum(weight))
        first += size
    return pt.concatenate(parts)


def normalized_by_answers(log_values, answers, block_sizes):
    """``log_values`` (E,) minus, block by block, the log of the ``answers``-weighted mean
    of their exponentials: the slopes exp(result) then average exactly 1 over each
    block's answers (the average answer's scale, not the geometric mean's, which is
    nearer 50 %). Differences of log slopes, and so their prior, are kept."""
    import pytensor.tensor as pt

    parts, first = [], 0
    for size in block_sizes:
        block, weight = log_values[first : first + size], answers[first : first + size]
        level = pt.logsumexp(block + pt.log(weight)) - pt.log(pt.sum(weight))
        parts.append(block - level)
        first += size
    return pt.concatenate(parts)


def cohort_components(frame) -> list[list[str]]:
    """The cohorts in groups linked by the questions they share: two cohorts are linked
    when some question was answered by experts of both, and links chain.

    Why it matters. A cohort's deviation on a question (its lean, and the question's own
    part) is measured against the other cohorts' answers to the same questions. Cohorts
    that share no question with the rest cannot be told apart from the consensus of the
    questions only they answered: moving their lean up and those questions' consensus down
    fits the data as well. On pooledmaRket, where each of four projects answered its own
    questions, that ridge gave the lean a bulk ESS of 50-66 in 4,000 draws, R-hat 1.05-1.07
    and 20-70 divergences. So when the cohorts fall into more than one group the model
    pools them (``BinaryPanelData.from_table``): no cohort deviations, no gaps reported,
    biases still averaging 0 within each cohort (pooling those too left each cohort's
    mean bias against its questions' consensus pinned by the prior alone: R-hat 1.02-1.03).

    Only when no two cohorts share a question: in a mixed design (A and B share questions,
    C shares none) the A-B gaps are measurable, and pooling would lose them and leave their
    lean to the noise; there the cohort terms stay, C's deviations rest on their prior, and
    the fit's diagnostics say when that hurts mixing.
    """
    parent: dict[str, str] = {}

    def root(c: str) -> str:
        while parent.setdefault(c, c) != c:
            c = parent[c]
        return c

    for cohorts in frame.groupby("question")["cohort"].unique():
        first = root(str(cohorts[0]))
        for other in cohorts[1:]:
            parent[root(str(other))] = first
    for cohort in frame["cohort"].unique():
        root(str(cohort))
    groups: dict[str, list[str]] = {}
    for cohort in sorted(parent):
        groups.setdefault(root(cohort), []).append(cohort)
    return sorted(groups.values())


def cohorts_to_pool(frame) -> tuple[tuple[str, ...], ...]:
    """Each cohort as a group of one when the model must pool them (no two cohorts share a
    question), else empty: where some do share, their gaps are measurable and kept (see
    ``cohort_components``). Read by this model's and the linked-rounds model's data."""
    components = cohort_components(frame)
    if len(components) > 1 and all(len(group) == 1 for group in components):
        return tuple(map(tuple, components))
    return ()


@dataclass
class HierarchicalFit:
    """A fitted posterior with what produced it.

    ``posterior`` is the DataTree from the sampler (groups posterior, sample_stats,
    constant_data, observed_data); its root attrs carry the model name and version, the
    model and sampler configs (JSON), the data hash and the timings.
    """

    posterior: xr.DataTree
    data: BinaryPanelData | None = None

    @property
    def attrs(self) -> dict:
        return dict(self.posterior.attrs)

    @property
    def model_config(self) -> dict:
        return json.loads(self.posterior.attrs["model_config"])

    def save(self, path: str | Path) -> Path:
        """Write the posterior (and its attrs) as NetCDF."""
        return tree_save(self.posterior, path)

    @classmethod
    def load(cls, path: str | Path) -> "HierarchicalFit":
        # the linked-rounds model (rounds.py) keeps its posterior in this class too
        return cls(posterior=tree_load(path, model_names={MODEL_NAME, "linked_rounds"}))


class BinaryHierarchicalModel:
    """Build and fit the model (1) on one round of binary judgments."""

    def __init__(self, model_config: dict | None = None, sampler_config: dict | None = None):
        self.model_config = merge_config(DEFAULT_MODEL_CONFIG, model_config, "model_config")
        self.sampler_config = merge_config(DEFAULT_SAMPLER_CONFIG, sampler_config, "sampler_config")
        if self.sampler_config["chains"] < 2:
            raise ModelConfigError("sample at least 2 chains: R-hat compares chains")
        if self.model_config["parametrization"] not in ("centered", "noncentered"):
            raise ModelConfigError("parametrization must be 'centered' or 'noncentered'")
        draws = self.sampler_config["draws"]
        if draws != "auto" and not positive_whole(draws):
            raise ModelConfigError(
                f"draws must be a positive whole number or 'auto', not {draws!r}"
            )
        if self.sampler_config["backend"] not in ("density", "pymc"):
            raise ModelConfigError("sampler backend must be 'density' or 'pymc'")
        for key in POSITIVE_MODEL_KEYS:
            value = self.model_config[key]
            if not (isinstance(value, numbers.Real) and math.isfinite(value) and value > 0):
                raise ModelConfigError(
                    f"model_config {key} must be a positive number, not {value!r}"
                )

    # --- model ----------------------------------------------------------------------
    def centred_components(self, data: BinaryPanelData) -> dict[str, bool]:
        """Which groups of parameters are centred: {"expert", "question", "cell"} -> bool.

        Non-centred is the default: centred forms diverged whenever a group's scale was
        near zero (equally contested questions, no cohort gaps), on small and large panels
        alike, while non-centred converged on every panel measured (see bench/README.md).
        """
        centred = self.model_config["parametrization"] == "centered"
        return dict.fromkeys(("expert", "question", "cell"), centred)

    def parametrization_label(self, data: BinaryPanelData) -> str:
        return self.model_config["parametrization"]

    def build_model(self, data: BinaryPanelData):
        """The PyMC model of (1) for these data (named dims: question, expert, cohort)."""
        import pymc as pm
        import pytensor.tensor as pt

        cfg = self.model_config
        n_cohorts = len(data.cohorts)
        coords = {"question": data.questions, "expert": data.experts, "cohort": data.cohorts}
        arrays = data.model_arrays()
        with pm.Model(coords=coords) as model:
            y = pm.Data("y", arrays["y"])
            judgment_idx = pm.Data("judgment_idx", arrays["judgment_idx"])
            centred = self.centred_components(data)

            mu = pm.Normal("mu_question", 0.0, cfg["mu_sd"], dims="question")

            delta_scale = pm.HalfNormal("delta_scale", cfg["delta_scale_sd"])
            if n_cohorts < 2:
                delta = pm.Deterministic(
                    "delta_cohort", pt.zeros((len(data.questions), 1)), dims=("question", "cohort")
                )
                pm.Deterministic("cohort_lean", pt.zeros(1), dims="cohort")
            else:
                if centred["cell"]:
                    deviation = pm.ZeroSumNormal(
                        "delta_deviation",
                        sigma=delta_scale,
                        dims=("question", "cohort"),
                        n_zerosum_axes=2,
                    )
                else:
                    raw = pm.ZeroSumNormal(
                        "delta_raw", dims=("question", "cohort"), n_zerosum_axes=2
                    )
                    deviation = delta_scale * raw
                # Each cohort's lean: its deviation common to every question (zero-sum over
                # cohorts). The question parts sum to zero over questions as well as over
                # cohorts, so the lean is exactly each cohort's mean deviation: with parts
                # free over questions the two traded off and the lean mixed slowly (bulk
                # ESS 277 of 4,000 draws at 200 x 60).
                lean_raw = pm.ZeroSumNormal("lean_raw", dims="cohort")
                lean = pm.Deterministic("cohort_lean", cfg["lean_sd"] * lean_raw, dims="cohort")
                delta = pm.Deterministic(
                    "delta_cohort", deviation + lean[None, :], dims=("question", "cohort")
                )

            # Bias sums to zero within each cohort (then centred by answers) and log noise
            # over all experts: zero-sum transforms (ZeroSumNormal) leave no direction that
            # only the prior pins down.
            bias_scale = pm.HalfNormal("bias_scale", cfg["bias_scale_sd"])
            sigma_scale = pm.HalfNormal("sigma_scale", cfg["sigma_scale_sd"])
            slope_scale = pm.HalfNormal("slope_scale", cfg["slope_scale_sd"])
            blocks = []
            for g, size in enumerate(data.bias_block_sizes):
                if centred["expert"]:
                    blocks.append(pm.ZeroSumNormal(f"bias_cohort{g}", sigma=bias_scale, shape=size))
                else:
                    blocks.append(bias_scale * pm.ZeroSumNormal(f"bias_raw_cohort{g}", shape=size))
            # Zero on average over the answers (version 6, ``centred_by_answers``)
            answers = pt.inc_subtensor(pt.zeros(len(data.experts))[judgment_idx[0]], 1.0)
            bias = pm.Deterministic(
                "bias_expert",
                centred_by_answers(pt.concatenate(blocks), answers, data.bias_block_sizes),
                dims="expert",
            )
            if centred["expert"]:
                log_sigma = pm.ZeroSumNormal("log_sigma", sigma=sigma_scale, dims="expert")
            else:
                log_sigma = sigma_scale * pm.ZeroSumNormal("log_sigma_raw", dims="expert")
            pm.Deterministic("sigma_expert", pt.exp(log_sigma), dims="expert")
            # Slopes average 1 within each bias block, as the biases average 0: a block's
            # mean slope against the scale of its questions' consensus is measured only
            # where blocks share questions, so where they do not (pooled cohorts), slopes
            # tied over all experts left it to the prior.
            slope_blocks = []
            for g, size in enumerate(data.bias_block_sizes):
                if centred["expert"]:
                    slope_blocks.append(
                        pm.ZeroSumNormal(f"log_slope_cohort{g}", sigma=slope_scale, shape=size)
                    )
                else:
                    slope_blocks.append(
                        slope_scale * pm.ZeroSumNormal(f"log_slope_raw_cohort{g}", shape=size)
                    )
            # slopes average 1 over the answers (version 6, ``normalized_by_answers``)
            log_slope = normalized_by_answers(
                pt.concatenate(slope_blocks), answers, data.bias_block_sizes
            )
            pm.Deterministic("slope_expert", pt.exp(log_slope), dims="expert")

            log_kappa_mean = pm.Normal(
                "log_kappa_mean", cfg["log_kappa_mean_mu"], cfg["log_kappa_mean_sd"]
            )
            kappa_scale = pm.HalfNormal("kappa_scale", cfg["kappa_scale_sd"])
            if centred["question"]:
                log_kappa = pm.Normal("log_kappa", log_kappa_mean, kappa_scale, dims="question")
            else:
                kappa_raw = pm.Normal("kappa_raw", 0.0, 1.0, dims="question")
                log_kappa = log_kappa_mean + kappa_scale * kappa_raw
            pm.Deterministic("kappa_question", pt.exp(log_kappa), dims="question")

            pm.Potential(
                "likelihood",
                self.likelihood(
                    y, judgment_idx, mu, delta.ravel(), bias, log_slope, log_sigma, log_kappa
                ),
            )
        return model

    def likelihood(self, y, judgment_idx, mu, delta_flat, bias, log_slope, log_sigma, log_kappa):
        """The log-likelihood (1) of all judgments, a PyTensor scalar: one fused kernel
        (``likelihood.PanelStudentTLogp``) for value and gradient, which the tests hold to
        PyMC's own Student-t. ``bench/plain_pymc.py`` overrides it with that Student-t, as
        the plain reference of the benchmark."""
        from aggregation.engine.likelihood import PanelStudentTLogp

        logp, *_ = PanelStudentTLogp(self.model_config["nu"])(
            y, judgment_idx, mu, delta_flat, bias, log_slope, log_sigma, log_kappa
        )
        return logp

    # --- fitting --------------------------------------------------------------------
    def fit(
        self,
        table: JudgmentTable | BinaryPanelData,
        *,
        random_seed: int,
        progress: ProgressCallback | None = None,
    ) -> HierarchicalFit:
        """Sample the posterior. The compiled model is reused for data of the same shape."""
        data = table if isinstance(table, BinaryPanelData) else BinaryPanelData.from_table(table)
        _check_fittable(data)
        notify = progress or (lambda phase, fraction: None)
        started = time.perf_counter()
        notify("compiling", 0.0)
        compiled, reused = self._compiled_for(data)
        compiled_at = time.perf_counter()
        notify("compiling", 1.0)

        sampler_config = self.sampler_config_for(data)
        trace = sample(
            compiled,
            sampler_config=sampler_config,
            random_seed=random_seed,
            progress=notify,
        )
        sampled_at = time.perf_counter()
        notify("sampling", 1.0)
        tree = self._annotate(trace, data, random_seed=random_seed, sampler_config=sampler_config)
        tree.attrs.update(
            {
                "compile_seconds": round(compiled_at - started, 3),
                "compiled_model_reused": int(reused),
                "sampling_seconds": round(sampled_at - compiled_at, 3),
            }
        )
        return HierarchicalFit(posterior=tree, data=data)

    def sampler_config_for(self, data: BinaryPanelData) -> dict:
        """The sampler config of a fit of these data, with "auto" draws made a number."""
        config = dict(self.sampler_config)
        if config["draws"] == "auto":
            config["draws"] = 2000 if reported_quantities(data) > AUTO_DRAWS_ABOVE else 1500
        return config

    def _compiled_for(self, data: BinaryPanelData):
        """A model nutpie can sample, and whether it was already compiled in this process."""
        if self.sampler_config["backend"] == "pymc":
            return self._pymc_compiled_for(data)
        if self.model_config["parametrization"] == "centered":
            raise ModelConfigError(
                "the hand-written density is the non-centred model only: fit the centred one "
                "with sampler_config={'backend': 'pymc'}"
            )
        return self._native_for(data)

    def _native_for(self, data: BinaryPanelData):
        """The hand-written density (density.py); its first import compiles or loads it."""
        from aggregation.engine.density import Layout, callbacks, nutpie_model

        reused = callbacks.cache_info().currsize > 0
        layout = Layout.of(data)
        coords = {"question": data.questions, "expert": data.experts, "cohort": data.cohorts}
        arrays = data.model_arrays()
        model = nutpie_model(layout, self.model_config, coords, **arrays)
        return model, reused

    def _pymc_compiled_for(self, data: BinaryPanelData):
        """The PyMC model compiled by nutpie, from the process cache or compiled now."""
        import nutpie

        parametrization = self.parametrization_label(data)
        shape = (*data.shape, tuple(data.bias_block_sizes))
        key = (
            type(self).__qualname__,  # a subclass may state another likelihood (bench/)
            MODEL_VERSION,
            json.dumps(self.model_config, sort_keys=True),
            parametrization,
            shape,
        )
        with _COMPILED_LOCK:
            compiled = _COMPILED.get(key)
        reused = compiled is not None
        if compiled is None:
            model = self.build_model(data)
            compiled = nutpie.compile_pymc_model(model, var_names=TRACE_VARS)
            with _COMPILED_LOCK:
                _COMPILED[key] = compiled
        else:
            compiled = compiled.with_data(**data.model_arrays())
        coords = {
            **compiled._coords,
            "question": data.questions,
            "expert": data.experts,
            "cohort": data.cohorts,
        }
        return dataclasses.replace(compiled, _coords=coords), reused

    def _annotate(
        self, trace: xr.DataTree, data: BinaryPanelData, *, random_seed: int, sampler_config: dict
    ) -> xr.DataTree:
        """Add the data and the provenance a saved posterior must carry."""
        judgments = {"judgment": np.arange(data.n_judgments)}
        trace["constant_data"] = xr.Dataset(
            {
                "expert_idx": ("judgment", data.expert_idx),
                "question_idx": ("judgment", data.question_idx),
                "cohort_of_expert": ("expert", data.cohort_of_expert),
            },
            coords={**judgments, "expert": data.experts},
        )
        trace["observed_data"] = xr.Dataset(
            {"probability": ("judgment", data.probability), "y": ("judgment", data.y)},
            coords=judgments,
        )
        trace.attrs.update(
            {
                "model_name": MODEL_NAME,
                "model_version": MODEL_VERSION,
                "model_config": json.dumps(self.model_config, sort_keys=True),
                "sampler_config": json.dumps(sampler_config, sort_keys=True),
                "parametrization": self.parametrization_label(data),
                "data_hash": data.data_hash,
                "round": data.round_number,
                "random_seed": random_seed,
                "experts": json.dumps(data.experts),
                "questions": json.dumps(data.questions),
                "cohorts": json.dumps(data.cohorts),
                "pooled_cohorts": json.dumps([list(group) for group in data.pooled_cohorts]),
            }
        )
        return trace


_COMPILED: dict = {}
_COMPILED_LOCK = threading.Lock()
AUTO_DRAWS_ABOVE = 2000  # reported quantities above which "auto" draws are 2,000 per chain


def reported_quantities(data: BinaryPanelData) -> int:
    """How many quantities a summary of these data reports (and checks R-hat of):
    consensus and disagreement per question, each cohort's belief and each pair's gap per
    question, bias, noise and slope per expert."""
    n_experts, n_questions, n_cohorts = data.shape
    per_question = 2 + (n_cohorts + n_cohorts * (n_cohorts - 1) // 2 if n_cohorts > 1 else 0)
    return n_questions * per_question + 3 * n_experts


def _check_fittable(data: BinaryPanelData) -> None:
    if len(data.experts) < 2:
        raise ValueError("the hierarchical model needs answers from at least 2 experts")
    answered = np.bincount(data.question_idx, minlength=len(data.questions))
    if answered.min() < 1:  # pragma: no cover - from_table cannot produce this
        raise ValueError("every question needs at least one answer")
