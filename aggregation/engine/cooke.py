"""Cooke's classical model: performance-weighted pooling of experts' quantiles.

Each expert gives quantiles (usually 5/50/95 %) for every item. For *seed* items the true
value (the realization) is known, and the experts are scored on them; the scores weight
the experts' distributions for the *target* items. Steps 3-6 below are the definitions of
Cooke (1991), "Experts in Uncertainty", ch. 12, as summarised in Cooke & Goossens (2008),
"TU Delft expert judgment data base", RESS 93:657-674. The conventions follow EXCALIBUR
(TU Delft) and ANDURYL, its open Python successor (github.com/grongen/anduryl,
``anduryl/core``); ``tests/aggregation/engine/test_cooke.py`` checks the scores against
EXCALIBUR's printed tables for ten studies of that database.

The method, in plain words:

1. **Intrinsic range.** Per item, [L, U] is the smallest interval holding every expert's
   quantiles and the realization, widened by ``overshoot`` (k = 10 %) of its length on both
   sides. Items on a ``"log"`` background are handled on the log scale throughout: the
   quantiles, the realization and the range are log-transformed first.
2. **An expert's distribution** on an item is the one with the stated quantiles and uniform
   density between them, on [L, U]: piecewise-linear CDF through (L, 0), (x_1, p_1), ...,
   (x_K, p_K), (U, 1).
3. **Calibration** (statistical accuracy). The K quantiles cut the line
   into K + 1 bins of probability p = (p_1, p_2 - p_1, ..., 1 - p_K). Let s be the share of
   the expert's answered seed items whose realization fell in each bin, and
   I(s, p) = sum_j s_j ln(s_j / p_j). Then 2 N I(s, p) is asymptotically chi-square with K
   degrees of freedom, and calibration = P(chi2_K >= 2 N I(s, p)). Following EXCALIBUR, N is
   the *fewest* seed items answered by any expert, for every expert and decision maker, so
   that experts who answered more seeds are not penalised by the sharper test.
4. **Information** of an expert on an item is the relative
   information of their distribution w.r.t. the uniform background on [L, U]:
   ln(U - L) + sum_j p_j ln(p_j / (x_j - x_{j-1})), with x_0 = L and x_{K+1} = U. The
   scores are the means over answered items: ``info_total`` over all items, ``info_seed``
   over the seed items.
5. **Weights**. Global: w_e = calibration_e * info_seed_e *
   1[calibration_e >= alpha]. Item: w_e(i) = calibration_e * info_e(i) *
   1[calibration_e >= alpha], per item i. Weights are normalised per item over the experts
   who answered that item.
6. **Decision maker** (DM). Its distribution on an item is the weighted mixture of the
   experts' distributions; its quantiles at the study's levels are read off the mixture
   CDF, which is piecewise linear between the union of the experts' quantiles and L, U,
   so linear interpolation of its inverse is exact. The DM is then scored like an expert
   (same range, same N). The *optimised* DMs (``global_opt``, ``item_opt``) take alpha
   among the distinct expert calibration scores and keep the one that maximises the DM's
   own combined score calibration * info_seed.

Conventions (where the references leave a choice):

- A realization *equal* to a quantile is counted in the bin below it (r <= x_j), as ANDURIL
  does.
- An expert keeps weight when calibration >= alpha (not >), so alpha equal to an expert's
  score keeps that expert; this is why the candidate alphas are the scores themselves.
  Ties in the optimisation go to the smallest alpha.
- Missing answers: an expert who did not answer an item has no information on it (the item
  is left out of their means), the item is not one of their seeds (``n_seed_answered``), and
  the DM for that item renormalises the weights over the experts who answered it. Items
  that no weighted expert answered get no DM quantiles (``None``). An expert who answered
  no seed item has no calibration (``None``) and no performance weight. If every expert's
  calibration is 0 (it underflows for hundreds of badly missed seeds), the performance-
  weighted DMs are undefined and reported as ``None``; ``equal`` still exists.
- Quantiles must be strictly increasing: a zero-width bin would give infinite information.
- ``global_alpha0`` is the DM with global weights at alpha = 0 (EXCALIBUR's non-optimised
  "n" DM under its default header); ``equal`` gives every expert the same weight and has no
  alpha (``None``).
- The reported ``weights`` of a DM are the normalised global weights; for ``item_opt``,
  whose weights differ per item, they are the mean over items of the per-item normalised
  weights (so they still sum to 1); ``CookeModelResult`` keeps the per-item array.
- DM ``quantiles`` are given at the study's quantile levels (5/50/95 % for the usual
  three-point format), on the item's original scale.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import chi2

SCALES = ("uni", "log")


class CookeInputError(ValueError):
    """Input for Cooke's model that cannot be scored; the message is one clear line."""


# --------------------------------------------------------------------------- the study


@dataclass(frozen=True, eq=False)
class CookeStudy:
    """Experts' quantile assessments and the realizations of the seed items.

    Attributes
    ----------
    experts : tuple of str, (n_experts,)
    items : tuple of str, (n_items,)
    scales : tuple of str, (n_items,), each ``"uni"`` or ``"log"`` (the background measure)
    quantile_levels : tuple of float, (n_quantiles,), strictly increasing in (0, 1)
    assessments : ndarray, (n_experts, n_items, n_quantiles); NaN where not answered
    realizations : ndarray, (n_items,); NaN for target items
    """

    experts: tuple[str, ...]
    items: tuple[str, ...]
    scales: tuple[str, ...]
    quantile_levels: tuple[float, ...]
    assessments: np.ndarray
    realizations: np.ndarray

    def __post_init__(self) -> None:
        _check_ids("expert", self.experts)
        _check_ids("item", self.items)
        _check_levels(self.quantile_levels)
        shape = (len(self.experts), len(self.items), len(self.quantile_levels))
        if self.assessments.shape != shape:
            raise CookeInputError(
                f"assessments have shape {self.assessments.shape}, expected {shape}"
            )
        if self.realizations.shape != shape[1:2] or len(self.scales) != shape[1]:
            raise CookeInputError("realizations and scales need one entry per item")
        bad_scales = sorted(set(self.scales) - set(SCALES))
        if bad_scales:
            raise CookeInputError(f"unknown item scale {bad_scales[0]!r} (expected 'uni' or 'log')")
        self._check_values()

    def _check_values(self) -> None:
        values = self.assessments
        missing = np.isnan(values)
        for check, what in (
            (missing.any(-1) & ~missing.all(-1), "gives some quantiles but not all"),
            (np.isinf(values).any(-1), "gives an infinite quantile"),
            ((np.diff(values, axis=-1) <= 0).any(-1), "gives quantiles that are not increasing"),
            (self.is_log[None, :] & (values <= 0).any(-1), "gives a quantile <= 0 (log scale)"),
        ):
            if check.any():
                e, i = np.argwhere(check)[0]
                raise CookeInputError(
                    f"expert {self.experts[e]!r} {what} for item {self.items[i]!r}"
                )
        r = self.realizations
        if np.isinf(r).any() or (self.is_log & (r <= 0)).any():
            i = np.flatnonzero(np.isinf(r) | (self.is_log & (r <= 0)))[0]
            raise CookeInputError(f"item {self.items[i]!r} has an invalid realization {r[i]}")
        if not self.is_seed.any():
            raise CookeInputError("no seed item: at least one item needs a realization")
        if not self.answered.any(axis=0).all():
            i = np.flatnonzero(~self.answered.any(axis=0))[0]
            raise CookeInputError(f"no expert answered item {self.items[i]!r}")

    @property
    def is_seed(self) -> np.ndarray:
        """(n_items,) bool: items with a known realization."""
        return ~np.isnan(self.realizations)

    @property
    def is_log(self) -> np.ndarray:
        """(n_items,) bool: items scored on a log background."""
        return np.array([s == "log" for s in self.scales], dtype=bool)

    @property
    def answered(self) -> np.ndarray:
        """(n_experts, n_items) bool: the expert gave quantiles for the item."""
        return ~np.isnan(self.assessments).any(axis=-1)

    @classmethod
    def from_arrays(
        cls,
        *,
        experts: Sequence[str],
        items: Sequence[str],
        assessments: np.ndarray | Sequence,
        realizations: np.ndarray | Sequence,
        scales: Sequence[str] | None = None,
        quantile_levels: Sequence[float] = (0.05, 0.5, 0.95),
    ) -> CookeStudy:
        """Build a study from plain sequences; ``None`` in the arrays means missing.

        ``assessments`` is (n_experts, n_items, n_quantiles), ``realizations`` (n_items,);
        ``scales`` defaults to ``"uni"`` for every item.
        """
        items = tuple(str(i) for i in items)
        return cls(
            experts=tuple(str(e) for e in experts),
            items=items,
            scales=tuple(s.lower() for s in scales)
            if scales is not None
            else ("uni",) * len(items),
            quantile_levels=tuple(float(q) for q in quantile_levels),
            assessments=_float_array(assessments, "assessments"),
            realizations=_float_array(realizations, "realizations"),
        )

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        realizations: Mapping[str, float | None] | None = None,
        scales: Mapping[str, str] | None = None,
    ) -> CookeStudy:
        """Build a study from a tidy table, one row per expert and item.

        Columns: ``expert``, ``item`` and one ``qNN`` column per quantile level (``q05``,
        ``q50``, ``q95``: NN is the level in percent); optional ``realization`` and
        ``scale`` columns, or the ``realizations`` / ``scales`` mappings by item. Experts
        and items keep their order of first appearance; pairs without a row are missing.
        """
        qcols = sorted(
            (c for c in frame.columns if re.fullmatch(r"q\d+(\.\d+)?", str(c))), key=_level
        )
        missing = {"expert", "item"} - set(frame.columns)
        if missing or not qcols:
            raise CookeInputError(
                f"table needs columns expert, item and q05/q50/q95 (missing {sorted(missing) or 'qNN'})"
            )
        if frame.duplicated(["expert", "item"]).any():
            row = frame[frame.duplicated(["expert", "item"])].iloc[0]
            raise CookeInputError(f"expert {row['expert']!r} answers item {row['item']!r} twice")
        experts = list(dict.fromkeys(frame["expert"].astype(str)))
        items = list(dict.fromkeys(frame["item"].astype(str)))
        values = np.full((len(experts), len(items), len(qcols)), np.nan)
        e = frame["expert"].astype(str).map({x: k for k, x in enumerate(experts)}).to_numpy()
        i = frame["item"].astype(str).map({x: k for k, x in enumerate(items)}).to_numpy()
        try:
            numbers = frame[qcols].apply(pd.to_numeric).to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError) as error:
            raise CookeInputError(f"quantiles must be numbers ({error})") from None
        values[e, i] = numbers
        realizations = _per_item(frame, "realization", realizations, items, default=None)
        scales = _per_item(frame, "scale", scales, items, default="uni")
        return cls.from_arrays(
            experts=experts,
            items=items,
            assessments=values,
            realizations=realizations,
            scales=[str(s) for s in scales],
            quantile_levels=[_level(c) for c in qcols],
        )


def _level(column: str) -> float:
    return float(str(column)[1:]) / 100


def _per_item(frame, column, mapping, items, default):
    if mapping is not None:
        return [mapping.get(item, default) for item in items]
    if column not in frame.columns:
        return [default] * len(items)
    per_item = frame.groupby(frame["item"].astype(str), sort=False)[column]
    if (per_item.nunique() > 1).any():
        raise CookeInputError(f"column {column!r} differs between rows of the same item")
    first = per_item.first()
    return [None if pd.isna(first[item]) else first[item] for item in items]


def _float_array(values, name: str) -> np.ndarray:
    try:
        return np.array(values, dtype=float)  # None becomes NaN
    except (TypeError, ValueError) as error:
        raise CookeInputError(f"{name} must be numbers ({error})") from None


def _check_ids(kind: str, ids: Sequence[str]) -> None:
    if not ids:
        raise CookeInputError(f"the study has no {kind}s")
    duplicated = [x for x in dict.fromkeys(ids) if ids.count(x) > 1]
    if duplicated:
        raise CookeInputError(f"{kind} id {duplicated[0]!r} appears twice")


def _check_levels(levels: Sequence[float]) -> None:
    if not levels or any(not 0 < q < 1 for q in levels) or any(np.diff(levels) <= 0):
        raise CookeInputError(
            f"quantile levels must be strictly increasing in (0, 1), got {list(levels)}"
        )


# --------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class Scores:
    """Performance scores of a batch of experts (or decision makers).

    Attributes
    ----------
    calibration : ndarray, (...,); NaN when no seed item was answered
    info_seed : ndarray, (...,) mean relative information over answered seed items
    info_total : ndarray, (...,) mean relative information over all answered items
    info_item : ndarray, (..., n_items); NaN where not answered
    n_seed : ndarray of int, (...,) seed items answered
    """

    calibration: np.ndarray
    info_seed: np.ndarray
    info_total: np.ndarray
    info_item: np.ndarray
    n_seed: np.ndarray

    def pick(self, index: int) -> Scores:
        """The scores of one member of the batch (first axis)."""
        return Scores(*(getattr(self, f)[index] for f in self.__dataclass_fields__))


@dataclass(frozen=True)
class ScoringScale:
    """A study moved to its scoring scale (log for log items), with its intrinsic range.

    Attributes
    ----------
    values : ndarray, (n_experts, n_items, n_quantiles) transformed quantiles, NaN if missing
    realizations : ndarray, (n_items,) transformed, NaN for targets
    lower, upper : ndarray, (n_items,) intrinsic range [L, U], overshoot included
    levels : ndarray, (n_quantiles,)
    n_min : int, fewest seed items answered by an expert who answered any (the N of the test)
    """

    values: np.ndarray
    realizations: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    levels: np.ndarray
    n_min: int

    @property
    def probs(self) -> np.ndarray:
        """(n_quantiles + 1,) probability of each inter-quantile bin."""
        return np.diff(np.concatenate([[0.0], self.levels, [1.0]]))

    @property
    def is_seed(self) -> np.ndarray:
        return ~np.isnan(self.realizations)


def scoring_scale(study: CookeStudy, overshoot: float = 0.1) -> ScoringScale:
    """Log-transform the log items and find each item's intrinsic range (step 1)."""
    if not overshoot > 0:
        raise CookeInputError(f"overshoot must be > 0, got {overshoot}")
    log_item = study.is_log
    values = study.assessments.copy()
    values[:, log_item] = np.log(values[:, log_item])
    realizations = study.realizations.copy()
    realizations[log_item] = np.log(realizations[log_item])
    # The range covers every expert's quantiles and the realization; the nan-functions
    # skip missing answers and the NaN realizations of target items.
    low = np.fmin(np.nanmin(values, axis=(0, 2)), realizations)
    high = np.fmax(np.nanmax(values, axis=(0, 2)), realizations)
    width = high - low
    n_seed = bin_counts(values, realizations).sum(axis=-1)
    return ScoringScale(
        values=values,
        realizations=realizations,
        lower=low - overshoot * width,
        upper=high + overshoot * width,
        levels=np.asarray(study.quantile_levels, dtype=float),
        n_min=int(n_seed[n_seed > 0].min()) if (n_seed > 0).any() else 0,
    )


def bin_counts(values: np.ndarray, realizations: np.ndarray) -> np.ndarray:
    """Count the answered seed items whose realization fell in each inter-quantile bin.

    Parameters
    ----------
    values : (..., n_items, n_quantiles) quantiles, NaN where not answered
    realizations : (n_items,) NaN for target items

    Returns
    -------
    (..., n_quantiles + 1) int counts; a realization equal to a quantile is counted in
    the bin below it.
    """
    n_bins = values.shape[-1] + 1
    counted = ~np.isnan(values).any(axis=-1) & ~np.isnan(realizations)
    with np.errstate(invalid="ignore"):
        bin_of_item = (values < realizations[:, None]).sum(axis=-1)
    one_hot = (bin_of_item[..., None] == np.arange(n_bins)) & counted[..., None]
    return one_hot.sum(axis=-2)


def calibration_score(counts: np.ndarray, probs: np.ndarray, n_min: int) -> np.ndarray:
    """Calibration: P(chi2_K >= 2 N I(s, p)) (step 3 above).

    Parameters
    ----------
    counts : (..., K + 1) realizations per bin
    probs : (K + 1,) bin probabilities p
    n_min : the N of the test (fewest seeds answered by any expert)

    Returns
    -------
    (...,) calibration in [0, 1]; NaN where no seed item was counted.
    """
    n = counts.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = counts / n
        # Relative information of the empirical bin shares s w.r.t. p; 0 ln 0 = 0.
        terms = np.where(counts > 0, s * np.log(s / probs), 0.0)
    statistic = 2 * n_min * terms.sum(axis=-1)
    return np.where(n[..., 0] > 0, chi2.sf(statistic, df=len(probs) - 1), np.nan)


def item_information(values: np.ndarray, scale: ScoringScale) -> np.ndarray:
    """Relative information w.r.t. the uniform background on [L, U] (step 4).

    I = sum_j p_j ln(p_j (U - L) / (x_j - x_{j-1})), with x_0 = L and x_{K+1} = U.

    Parameters
    ----------
    values : (..., n_items, n_quantiles) quantiles on the scoring scale
    scale : the study's scoring scale (gives L, U and p)

    Returns
    -------
    (..., n_items) information; NaN where not answered.
    """
    lower = np.broadcast_to(scale.lower[:, None], values.shape[:-1] + (1,))
    upper = np.broadcast_to(scale.upper[:, None], values.shape[:-1] + (1,))
    widths = np.diff(np.concatenate([lower, values, upper], axis=-1), axis=-1)
    span = (scale.upper - scale.lower)[:, None]
    return np.sum(scale.probs * np.log(scale.probs * span / widths), axis=-1)


def _mean_over(info: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Mean of (..., n_items) ``info`` over the answered ``items`` (bool mask); NaN if none."""
    chosen = info[..., items]
    n = (~np.isnan(chosen)).sum(axis=-1)
    with np.errstate(invalid="ignore"):
        return np.where(n > 0, np.nansum(chosen, axis=-1) / n, np.nan)


def score(values: np.ndarray, scale: ScoringScale) -> Scores:
    """Score quantile assessments like experts (steps 3 and 4).

    Parameters
    ----------
    values : (..., n_items, n_quantiles) on the scoring scale, NaN where not answered
    scale : the study's scoring scale

    Returns
    -------
    Scores with batch shape (...).
    """
    counts = bin_counts(values, scale.realizations)
    info = item_information(values, scale)
    return Scores(
        calibration=calibration_score(counts, scale.probs, scale.n_min),
        info_seed=_mean_over(info, scale.is_seed),
        info_total=_mean_over(info, np.ones(info.shape[-1], dtype=bool)),
        info_item=info,
        n_seed=counts.sum(axis=-1),
    )


# --------------------------------------------------------------------------- decision maker


@dataclass(frozen=True)
class MixtureGrid:
    """Every expert's CDF on every item, on the points where the mixture CDF bends.

    Attributes
    ----------
    x : ndarray, (n_items, n_points) sorted union of L, all quantiles and U (padded with U)
    cdf : ndarray, (n_experts, n_items, n_points) expert CDFs at ``x``; 0 where not answered
    answered : ndarray, (n_experts, n_items) bool
    """

    x: np.ndarray
    cdf: np.ndarray
    answered: np.ndarray


def mixture_grid(scale: ScoringScale) -> MixtureGrid:
    """Evaluate the experts' piecewise-uniform distributions (step 2) on a common grid."""
    values = scale.values
    n_experts, n_items, n_quantiles = values.shape
    lower = np.broadcast_to(scale.lower[None, :, None], (n_experts, n_items, 1))
    upper = np.broadcast_to(scale.upper[None, :, None], (n_experts, n_items, 1))
    knots = np.concatenate([lower, values, upper], axis=-1)  # (E, I, K + 2)
    probs = np.concatenate([[0.0], scale.levels, [1.0]])
    pooled = np.where(np.isnan(values), upper, values).transpose(1, 0, 2).reshape(n_items, -1)
    x = np.sort(
        np.concatenate([scale.lower[:, None], pooled, scale.upper[:, None]], axis=1), axis=1
    )
    # For each grid point, the knot segment [k_{j-1}, k_j) that holds it; x = U uses the
    # last segment, where the linear interpolation gives exactly 1.
    with np.errstate(invalid="ignore"):
        j = (knots[:, :, None, :] <= x[None, :, :, None]).sum(axis=-1)
    j = np.clip(j, 1, n_quantiles + 1)
    left = np.take_along_axis(knots, j - 1, axis=-1)
    right = np.take_along_axis(knots, j, axis=-1)
    with np.errstate(invalid="ignore"):
        cdf = probs[j - 1] + (probs[j] - probs[j - 1]) * (x[None] - left) / (right - left)
    answered = ~np.isnan(values).any(axis=-1)
    return MixtureGrid(x=x, cdf=np.where(answered[..., None], cdf, 0.0), answered=answered)


def normalise_per_item(weights: np.ndarray, answered: np.ndarray) -> np.ndarray:
    """Normalise (..., n_experts, n_items) weights per item over the experts who answered.

    Returns NaN for an item where no expert with positive weight answered.
    """
    weights = np.where(answered, weights, 0.0)
    total = weights.sum(axis=-2, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, weights / total, np.nan)


def dm_quantiles(grid: MixtureGrid, weights: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Quantiles of the weighted mixture of the experts' distributions (step 6).

    Parameters
    ----------
    grid : the experts' CDFs on the mixture's breakpoints
    weights : (n_dm, n_experts, n_items) unnormalised weights, one set per decision maker
    levels : (n_quantiles,) probability levels

    Returns
    -------
    (n_dm, n_items, n_quantiles) on the scoring scale; NaN for items no weighted expert
    answered.
    """
    w = normalise_per_item(weights, grid.answered)
    cdf = np.einsum("mei,eig->mig", w, grid.cdf)  # the mixture CDF, piecewise linear
    # Invert it: j is the first grid point where F >= level, and F is linear on [x_{j-1}, x_j].
    j = (cdf[..., None, :] < levels[:, None]).sum(axis=-1)  # (n_dm, I, K)
    j = np.clip(j, 1, grid.x.shape[-1] - 1)
    x = np.broadcast_to(grid.x[None], cdf.shape)
    f0, f1 = np.take_along_axis(cdf, j - 1, axis=-1), np.take_along_axis(cdf, j, axis=-1)
    x0, x1 = np.take_along_axis(x, j - 1, axis=-1), np.take_along_axis(x, j, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return x0 + (levels - f0) * (x1 - x0) / (f1 - f0)


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class DecisionMaker:
    """One decision maker: its weights, its quantiles and its own scores.

    Attributes
    ----------
    alpha : significance level used (None for equal weights)
    scores : Scores with scalar fields
    weights : ndarray, (n_experts,) reported normalised weights (see the module notes)
    item_weights : ndarray, (n_experts, n_items) weights normalised per item
    quantiles : ndarray, (n_items, n_quantiles) on the items' original scale
    """

    alpha: float | None
    scores: Scores
    weights: np.ndarray
    item_weights: np.ndarray
    quantiles: np.ndarray


@dataclass(frozen=True)
class CookeModelResult:
    """Expert scores and the four decision makers of one study."""

    study: CookeStudy
    experts: Scores
    decision_makers: dict[str, DecisionMaker]

    def to_dict(self) -> dict:
        """The JSON result contract of ``manage.py aggregate --method cooke``."""
        study, s = self.study, self.experts
        experts = {
            expert: {
                "calibration": _number(s.calibration[e]),
                "info_seed": _number(s.info_seed[e]),
                "info_total": _number(s.info_total[e]),
                "n_seed_answered": int(s.n_seed[e]),
            }
            for e, expert in enumerate(study.experts)
        }
        dms = {name: _dm_dict(dm, study) for name, dm in self.decision_makers.items()}
        return {"method": "cooke", "experts": experts, "decision_makers": dms}


def _number(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _dm_dict(dm: DecisionMaker, study: CookeStudy) -> dict:
    return {
        "alpha": None if dm.alpha is None else float(dm.alpha),
        "calibration": _number(dm.scores.calibration),
        "info_seed": _number(dm.scores.info_seed),
        "info_total": _number(dm.scores.info_total),
        "weights": {e: _number(w) for e, w in zip(study.experts, dm.weights, strict=True)},
        "quantiles": {
            item: [_number(q) for q in row]
            for item, row in zip(study.items, dm.quantiles, strict=True)
        },
    }


def cooke_model(study: CookeStudy, *, overshoot: float = 0.1) -> CookeModelResult:
    """Score the experts and build the decision makers of Cooke's classical model.

    Parameters
    ----------
    study : quantiles (n_experts, n_items, n_quantiles) and realizations (n_items,)
    overshoot : k, the share of each item's range added on both sides (EXCALIBUR: 0.1)

    Returns
    -------
    CookeModelResult with ``global_opt``, ``item_opt``, ``global_alpha0`` and ``equal``.
    """
    scale = scoring_scale(study, overshoot)
    grid = mixture_grid(scale)
    experts = score(scale.values, scale)
    cal = np.nan_to_num(experts.calibration)  # no seeds answered: no performance weight
    info_seed = np.nan_to_num(experts.info_seed)
    info_item = np.nan_to_num(experts.info_item)
    alphas = np.unique(experts.calibration[np.isfinite(experts.calibration)])
    n_items = len(study.items)

    def global_weights(alpha: np.ndarray) -> np.ndarray:  # (n_alpha, E, I), step 5
        w = cal * info_seed * (cal >= alpha[:, None])
        return np.repeat(w[:, :, None], n_items, axis=2)

    def item_weights(alpha: np.ndarray) -> np.ndarray:  # (n_alpha, E, I)
        return (cal * (cal >= alpha[:, None]))[:, :, None] * info_item[None]

    equal = np.ones((1, len(study.experts), n_items))
    return CookeModelResult(
        study=study,
        experts=experts,
        decision_makers={
            "global_opt": _best_dm(study, scale, grid, alphas, global_weights(alphas)),
            "item_opt": _best_dm(study, scale, grid, alphas, item_weights(alphas), by_item=True),
            "global_alpha0": _best_dm(study, scale, grid, np.zeros(1), global_weights(np.zeros(1))),
            "equal": _best_dm(study, scale, grid, np.array([np.nan]), equal),
        },
    )


def _best_dm(study, scale, grid, alphas, weights, by_item=False) -> DecisionMaker:
    """Build one DM per alpha and keep the one with the highest calibration * info_seed.

    ``weights`` is (n_alpha, n_experts, n_items), unnormalised; a NaN alpha means none.
    """
    quantiles = dm_quantiles(grid, weights, scale.levels)  # (n_alpha, I, K)
    scores = score(quantiles, scale)
    combined = scores.calibration * scores.info_seed
    # nanargmax takes the first maximum: alphas are sorted, so ties go to the smallest.
    best = int(np.nanargmax(combined)) if np.isfinite(combined).any() else 0
    per_item = normalise_per_item(weights[best], grid.answered)
    values = quantiles[best]
    values[study.is_log] = np.exp(values[study.is_log])
    return DecisionMaker(
        alpha=None if np.isnan(alphas[best]) else float(alphas[best]),
        scores=scores.pick(best),
        weights=_reported_weights(weights[best], per_item, by_item),
        item_weights=per_item,
        quantiles=values,
    )


def _reported_weights(weights: np.ndarray, per_item: np.ndarray, by_item: bool) -> np.ndarray:
    """(n_experts,) normalised weights to report from (n_experts, n_items) weights.

    Global weights are the same on every item; item weights are averaged over the items
    the DM covers. All NaN when no expert has weight.
    """
    covered = ~np.isnan(per_item).any(axis=0)
    w = per_item[:, covered].sum(axis=1) if by_item else weights[:, 0]
    total = w.sum()
    return w / total if total > 0 else np.full(len(w), np.nan)


def cooke_result(study: CookeStudy, *, overshoot: float = 0.1) -> dict:
    """Cooke's classical model as the JSON-serialisable result contract.

    ``{"method": "cooke", "experts": {id: {calibration, info_seed, info_total,
    n_seed_answered}}, "decision_makers": {"global_opt" | "item_opt" | "global_alpha0" |
    "equal": {alpha, calibration, info_seed, info_total, weights: {id: w}, quantiles:
    {item: [q05, q50, q95]}}}}``; numbers are plain floats, and ``None`` stands for a value
    that does not exist (NaN).
    """
    return cooke_model(study, overshoot=overshoot).to_dict()
