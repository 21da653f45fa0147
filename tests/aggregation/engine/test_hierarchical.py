"""The hierarchical binary model, built but never sampled: structure, constraints, wiring.

Every test here builds a PyMC model and at most compiles a small function (FAST_COMPILE:
the Python linker, a few hundred milliseconds, and the same numbers as the native
backends for these graphs). Sampling is in test_recovery.py (slow).
"""

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from numpy.testing import assert_allclose
from scipy import stats
from scipy.special import expit

from aggregation.engine.data import JudgmentTable, clip_probabilities
from aggregation.engine.hierarchical import (
    DEFAULT_MODEL_CONFIG,
    DEFAULT_SAMPLER_CONFIG,
    BinaryHierarchicalModel,
    BinaryPanelData,
    HierarchicalFit,
    ModelConfigError,
    cohort_components,
    reported_quantities,
)
from aggregation.engine.synthetic import simulate_binary_panel

FAST = "FAST_COMPILE"

CENTRED_FREE = {
    "mu_question",
    "delta_scale",
    "delta_deviation",
    "lean_raw",
    "bias_scale",
    "sigma_scale",
    "slope_scale",
    "log_sigma",
    "log_kappa_mean",
    "kappa_scale",
    "log_kappa",
}
NONCENTRED_FREE = {
    "mu_question",
    "delta_scale",
    "delta_raw",
    "lean_raw",
    "bias_scale",
    "sigma_scale",
    "slope_scale",
    "log_sigma_raw",
    "log_kappa_mean",
    "kappa_scale",
    "kappa_raw",
}
# log slopes, zero-sum within each cohort as the biases are (then normalized by answers)
CENTRED_SLOPES = {"log_slope_cohort0", "log_slope_cohort1"}
SLOPES = {"log_slope_raw_cohort0", "log_slope_raw_cohort1"}


def panel_table(
    n_experts=12, n_questions=6, *, cohorts=None, answer_rate=1.0, seed=0, drop=None
) -> JudgmentTable:
    panel = simulate_binary_panel(
        n_experts=n_experts,
        n_questions=n_questions,
        cohorts=cohorts,
        answer_rate=answer_rate,
        rounding=0.05,
        seed=seed,
    )
    frame = panel.judgments
    if drop is not None:
        frame = frame[~drop(frame)]
    return JudgmentTable.from_frame(frame)


def panel_data(*args, **kwargs) -> BinaryPanelData:
    return BinaryPanelData.from_table(panel_table(*args, **kwargs))


def free_names(model) -> set[str]:
    return {rv.name for rv in model.free_RVs}


def random_point(model, seed=0, scale=0.7) -> dict[str, np.ndarray]:
    """Random values for every (transformed) free variable: a point away from the start."""
    rng = np.random.default_rng(seed)
    return {
        name: rng.normal(0.0, scale, np.shape(value))
        for name, value in model.initial_point().items()
    }


def evaluate(model, names, point) -> dict[str, np.ndarray]:
    fn = model.compile_fn(
        [model[name] for name in names],
        inputs=model.value_vars,
        on_unused_input="ignore",
        mode=FAST,
        point_fn=True,
    )
    return dict(zip(names, fn(point), strict=True))


# ------------------------------------------------------------------ panel data


def test_panel_data_codes_experts_by_cohort_and_cohorts_by_size():
    rows = [
        # ROK has three experts, US two: ROK comes first, experts grouped by cohort
        ("u2", "US", "Q2", 0.5),
        ("u1", "US", "Q1", 0.0),
        ("r3", "ROK", "Q1", 0.25),
        ("r1", "ROK", "Q2", 1.0),
        ("r2", "ROK", "Q2", 0.75),
    ]
    table = JudgmentTable.from_frame(
        pd.DataFrame(rows, columns=["expert", "cohort", "question", "probability"])
    )
    data = BinaryPanelData.from_table(table)
    assert data.cohorts == ["ROK", "US"]
    assert data.experts == ["r1", "r2", "r3", "u1", "u2"]
    assert data.questions == ["Q1", "Q2"]
    assert data.cohort_of_expert.tolist() == [0, 0, 0, 1, 1]
    assert data.cohort_sizes == [3, 2]
    assert data.shape == (5, 2, 2)
    # the table is sorted by question then expert
    labels = [
        (data.experts[i], data.questions[j])
        for i, j in zip(data.expert_idx, data.question_idx, strict=True)
    ]
    assert labels == [("r3", "Q1"), ("u1", "Q1"), ("r1", "Q2"), ("r2", "Q2"), ("u2", "Q2")]
    assert data.probability.tolist() == [0.25, 0.0, 1.0, 0.75, 0.5]
    # log-odds of the clipped answers; rtol 1e-12: the same two floating operations
    p = clip_probabilities(data.probability)
    assert_allclose(data.y, np.log(p / (1 - p)), rtol=1e-12)
    assert data.count_per_cell().tolist() == [[1, 1], [2, 1]]
    arrays = data.model_arrays()
    assert set(arrays) == {"y", "judgment_idx"}
    assert arrays["judgment_idx"].shape == (3, 5)
    # cell = question * n_cohorts + cohort: row-major index into delta (question, cohort)
    assert arrays["judgment_idx"][2].tolist() == [0 * 2 + 0, 0 * 2 + 1, 2 + 0, 2 + 0, 2 + 1]
    assert data.data_hash == table.data_hash()
    assert data.round_number == 1


def test_the_model_arrays_hold_every_judgment_sorted_by_cell():
    # labels that interleave the cohorts: the table's order (question, expert) is not by cell
    frame = simulate_binary_panel(n_experts=9, n_questions=4, answer_rate=0.8, seed=4).judgments
    frame["expert"] = [f"x{(int(e[1:]) * 7) % 11}" for e in frame["expert"]]
    data = BinaryPanelData.from_table(JudgmentTable.from_frame(frame))
    arrays = data.model_arrays()
    expert, question, cell = arrays["judgment_idx"]
    assert np.all(np.diff(cell) >= 0)
    assert not np.all(np.diff(data.question_idx * 2 + data.cohort_of_expert[data.expert_idx]) >= 0)
    assert_allclose(cell, question * 2 + data.cohort_of_expert[expert], rtol=0)
    as_given = sorted(zip(data.expert_idx, data.question_idx, data.y, strict=True))
    assert sorted(zip(expert, question, arrays["y"], strict=True)) == as_given


def test_a_multi_round_table_is_refused_with_a_clear_message():
    table = panel_table()
    both = JudgmentTable.from_frame(
        pd.concat([table.frame, table.frame.assign(round=2)], ignore_index=True)
    )
    message = r"fits one round at a time; this table holds rounds \[1, 2\] \(select one"
    with pytest.raises(ValueError, match=message):
        BinaryPanelData.from_table(both)
    # one round of it is fine
    assert BinaryPanelData.from_table(both.for_round(2)).round_number == 2


# ------------------------------------------------------------------ configuration


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model_config": {"nuu": 3}}, "unknown model_config key"),
        ({"model_config": {"nuu": 3, "mu_scale": 1}}, "unknown model_config key.*mu_scale, nuu"),
        (
            {"sampler_config": {"draw": 100}},
            "unknown sampler_config key.*draw; known: backend, chains",
        ),
        ({"model_config": {"parametrization": "centred"}}, "parametrization must be"),
        ({"sampler_config": {"backend": "stan"}}, "backend must be 'density' or 'pymc'"),
        ({"model_config": {"mu_sd": 0}}, "mu_sd must be a positive number, not 0"),
        ({"model_config": {"nu": -1.0}}, "nu must be a positive number"),
        ({"model_config": {"kappa_scale_sd": float("nan")}}, "kappa_scale_sd must be a positive"),
    ],
)
def test_unknown_or_invalid_config_raises(kwargs, message):
    with pytest.raises(ModelConfigError, match=message):
        BinaryHierarchicalModel(**kwargs)


def test_configs_merge_over_the_defaults_without_changing_them():
    model = BinaryHierarchicalModel({"nu": 7.0}, {"draws": 10})
    assert model.model_config == {**DEFAULT_MODEL_CONFIG, "nu": 7.0}
    assert model.sampler_config == {**DEFAULT_SAMPLER_CONFIG, "draws": 10}
    assert DEFAULT_MODEL_CONFIG["nu"] == 4.0 and DEFAULT_SAMPLER_CONFIG["draws"] == "auto"


@pytest.mark.parametrize(
    ("experts", "questions", "cohorts", "quantities", "draws"),
    [
        (200, 60, {"US": 0.5, "ROK": 0.5}, 60 * (2 + 2 + 1) + 3 * 200, 1500),
        (1000, 2, {"US": 0.5, "ROK": 0.5}, 2 * 5 + 3 * 1000, 2000),
        (30, 5, {"a": 0.4, "b": 0.3, "c": 0.3}, 5 * (2 + 3 + 3) + 3 * 30, 1500),
        (12, 4, {"all": 1.0}, 4 * 2 + 3 * 12, 1500),
    ],
)
def test_auto_draws_follow_the_number_of_reported_quantities(
    experts, questions, cohorts, quantities, draws
):
    frame = simulate_binary_panel(
        n_experts=experts, n_questions=questions, cohorts=cohorts, seed=1
    ).judgments
    data = BinaryPanelData.from_table(JudgmentTable.from_frame(frame))
    assert reported_quantities(data) == quantities
    assert BinaryHierarchicalModel().sampler_config_for(data)["draws"] == draws
    # a number given is kept
    chosen = BinaryHierarchicalModel(sampler_config={"draws": 300})
    assert chosen.sampler_config_for(data)["draws"] == 300


@pytest.mark.parametrize("draws", [0, -5, 2.5, "many"])
def test_draws_must_be_a_positive_whole_number_or_auto(draws):
    with pytest.raises(ModelConfigError, match="draws must be a positive whole number or 'auto'"):
        BinaryHierarchicalModel(sampler_config={"draws": draws})


# ------------------------------------------------------------------ parametrization

DENSE = {"n_experts": 24, "n_questions": 12}  # 12 answers per expert, 24 per question, 12 per cell
SPARSE = {"n_experts": 24, "n_questions": 12, "answer_rate": 0.25}  # ~3 per expert, ~6 per question
WIDE = {"n_experts": 8, "n_questions": 30}  # 30 per expert; 8 per question, 4 per cell

ALL_CENTRED = {"expert": True, "question": True, "cell": True}
NONE_CENTRED = {"expert": False, "question": False, "cell": False}


@pytest.mark.parametrize(
    ("panel", "config", "expected"),
    [
        (DENSE, {}, NONE_CENTRED),  # the default is non-centred, however dense the panel
        (SPARSE, {}, NONE_CENTRED),
        (DENSE, {"parametrization": "centered"}, ALL_CENTRED),
        (SPARSE, {"parametrization": "centered"}, ALL_CENTRED),
        (DENSE, {"parametrization": "noncentered"}, NONE_CENTRED),
    ],
)
def test_centred_components(panel, config, expected):
    model = BinaryHierarchicalModel(config)
    data = panel_data(**panel)
    assert model.centred_components(data) == expected
    assert model.parametrization_label(data) == model.model_config["parametrization"]


def test_the_centred_model_is_fitted_only_through_pymc():
    with pytest.raises(ModelConfigError, match=r"non-centred model only.*'backend': 'pymc'"):
        BinaryHierarchicalModel({"parametrization": "centered"}).fit(panel_table(), random_seed=1)


def test_an_unknown_parametrization_is_refused():
    with pytest.raises(ModelConfigError, match="parametrization must be"):
        BinaryHierarchicalModel({"parametrization": "auto"})


@pytest.mark.parametrize(
    ("parametrization", "panel", "expected"),
    [
        ("centered", DENSE, CENTRED_FREE | {"bias_cohort0", "bias_cohort1"} | CENTRED_SLOPES),
        ("noncentered", DENSE, NONCENTRED_FREE | {"bias_raw_cohort0", "bias_raw_cohort1"} | SLOPES),
        (
            "noncentered",
            SPARSE,
            NONCENTRED_FREE | {"bias_raw_cohort0", "bias_raw_cohort1"} | SLOPES,
        ),
    ],
)
def test_free_variables_follow_the_parametrization(parametrization, panel, expected):
    model = BinaryHierarchicalModel({"parametrization": parametrization}).build_model(
        panel_data(**panel)
    )
    assert free_names(model) == expected
    assert {d.name for d in model.deterministics} == {
        "delta_cohort",
        "cohort_lean",
        "bias_expert",
        "sigma_expert",
        "slope_expert",
        "kappa_question",
    }
    assert {p.name for p in model.potentials} == {"likelihood"}


# ------------------------------------------------------------------ structure at a random point


@pytest.mark.parametrize("parametrization", ["centered", "noncentered"])
def test_the_model_has_named_dims(parametrization):
    data = panel_data(**DENSE)
    model = BinaryHierarchicalModel({"parametrization": parametrization}).build_model(data)
    assert {k: list(v) for k, v in model.coords.items()} == {
        "question": data.questions,
        "expert": data.experts,
        "cohort": data.cohorts,
    }
    dims = model.named_vars_to_dims
    assert dims["mu_question"] == ("question",)
    assert dims["delta_cohort"] == ("question", "cohort")
    assert dims["bias_expert"] == ("expert",)
    assert dims["sigma_expert"] == ("expert",)
    assert dims["kappa_question"] == ("question",)


@pytest.mark.parametrize("parametrization", ["centered", "noncentered"])
@pytest.mark.parametrize("seed", [1, 2])
def test_the_identifying_constraints_hold_at_any_point(parametrization, seed):
    """Within each cohort biases average 0 and slopes 1 over the answers (version 6: the
    experts skipped some questions here, so not over the experts); log noise sums to zero
    over all experts, deviations over the cohorts."""
    data = panel_data(
        n_experts=13,
        n_questions=5,
        cohorts={"US": 0.5, "ROK": 0.3, "JP": 0.2},
        answer_rate=0.7,
        seed=seed,
    )
    answers = np.bincount(data.expert_idx, minlength=len(data.experts))
    model = BinaryHierarchicalModel({"parametrization": parametrization}).build_model(data)
    names = ["bias_expert", "slope_expert", "sigma_expert", "delta_cohort"]
    values = evaluate(model, names, random_point(model, seed))
    bias, slope, sigma, delta = (values[n] for n in names)
    assert np.abs(bias).max() > 1e-3 and np.abs(delta).max() > 1e-3  # not the trivial point
    # atol 1e-12: sums of a dozen numbers of order 1 are zero up to a few ulps
    unequal = 0  # cohorts whose experts answered unequally often: there the weighting shows
    for g in range(len(data.cohorts)):
        members = data.cohort_of_expert == g
        w = answers[members]
        assert_allclose((w * bias[members]).sum(), 0.0, atol=1e-12)
        assert_allclose((w * slope[members]).sum(), w.sum(), rtol=1e-12)
        if len(set(w)) > 1:
            unequal += 1
            assert abs(bias[members].sum()) > 1e-6
            assert abs(np.log(slope[members]).sum()) > 1e-6
    assert unequal >= 2
    assert_allclose(np.log(sigma).sum(), 0.0, atol=1e-12)
    assert_allclose(delta.sum(axis=1), np.zeros(len(data.questions)), atol=1e-12)
    assert delta.shape == (5, 3) and bias.shape == sigma.shape == (13,)


@pytest.mark.parametrize("parametrization", ["centered", "noncentered"])
def test_the_likelihood_is_the_student_t_of_equation_1(parametrization):
    """The potential equals scipy's Student-t log density of every judgment.

    This checks the wiring of build_model (which index reads which parameter, the cell
    index into delta, log-scale sums), which the op's own tests cannot see.
    """
    data = panel_data(n_experts=11, n_questions=7, answer_rate=0.7, cohorts={"A": 0.6, "B": 0.4})
    config = {"parametrization": parametrization, "nu": 5.0}
    model = BinaryHierarchicalModel(config).build_model(data)
    names = ["likelihood", "mu_question", "delta_cohort", "bias_expert"]
    names += ["slope_expert", "sigma_expert", "kappa_question"]
    v = evaluate(model, names, random_point(model, seed=3))
    i, j = data.expert_idx, data.question_idx
    theta = v["mu_question"][j] + v["delta_cohort"][j, data.cohort_of_expert[i]]
    loc = v["bias_expert"][i] + v["slope_expert"][i] * theta
    assert np.ptp(v["slope_expert"]) > 0  # the slopes vary at this point, so the check sees them
    scale = v["sigma_expert"][i] * v["kappa_question"][j]
    expected = stats.t.logpdf(data.y, df=5.0, loc=loc, scale=scale).sum()
    # rtol 1e-10: two implementations (numba kernel, scipy) summing ~50 terms of order 1
    assert_allclose(v["likelihood"], expected, rtol=1e-10)


@pytest.mark.parametrize("parametrization", ["centered", "noncentered"])
def test_logp_is_finite_at_the_initial_point(parametrization):
    model = BinaryHierarchicalModel({"parametrization": parametrization}).build_model(
        panel_data(**SPARSE)
    )
    assert np.isfinite(model.compile_logp(mode=FAST)(model.initial_point()))


# ------------------------------------------------------------------ awkward panels


def test_a_single_cohort_panel_builds_with_no_cohort_deviation():
    data = panel_data(cohorts={"US": 1.0})
    model = BinaryHierarchicalModel().build_model(data)
    assert data.cohorts == ["US"]
    assert not free_names(model) & {"delta_cohort", "delta_raw"}
    point = model.initial_point()
    assert np.isfinite(model.compile_logp(mode=FAST)(point))
    delta = evaluate(model, ["delta_cohort"], random_point(model))["delta_cohort"]
    assert delta.shape == (6, 1) and np.all(delta == 0)


@pytest.mark.parametrize("parametrization", ["centered", "noncentered"])
def test_tiny_cohorts_build(parametrization):
    # 20 experts: 16 in US, a cohort of three (ROK) and a cohort of one (JP)
    data = panel_data(n_experts=20, cohorts={"US": 16 / 20, "ROK": 3 / 20, "JP": 1 / 20})
    # cohorts are alphabetical, so a gap keeps its direction from round to round
    assert data.cohorts == ["JP", "ROK", "US"] and data.cohort_sizes == [1, 3, 16]
    model = BinaryHierarchicalModel({"parametrization": parametrization}).build_model(data)
    point = random_point(model, seed=4)
    assert np.isfinite(model.compile_logp(mode=FAST)(point))
    bias = evaluate(model, ["bias_expert"], point)["bias_expert"]
    assert_allclose(bias[data.cohort_of_expert == 1].sum(), 0.0, atol=1e-12)  # as above
    assert bias[data.cohort_of_expert == 0] == 0.0  # alone in a cohort: no bias of its own


def test_a_question_answered_by_one_cohort_only_builds():
    table = panel_table(drop=lambda f: (f["question"] == "Q01") & (f["cohort"] == "ROK"))
    data = BinaryPanelData.from_table(table)
    counts = data.count_per_cell()
    assert counts[0, data.cohorts.index("ROK")] == 0 and counts[0].sum() > 0
    model = BinaryHierarchicalModel().build_model(data)
    assert np.isfinite(model.compile_logp(mode=FAST)(random_point(model, seed=5)))


def test_answers_of_exactly_0_and_1_give_a_finite_logp():
    table = panel_table()
    frame = table.frame.copy()
    frame.loc[::3, "probability"] = 0.0
    frame.loc[1::3, "probability"] = 1.0
    data = BinaryPanelData.from_table(JudgmentTable.from_frame(frame))
    assert np.isfinite(data.y).all() and np.abs(data.y).max() == pytest.approx(np.log(199.0))
    model = BinaryHierarchicalModel().build_model(data)
    assert np.isfinite(model.compile_logp(mode=FAST)(model.initial_point()))


def test_synthetic_panels_follow_the_models_constraints():
    """The generator the recovery tests rely on obeys the model's zero-sum definitions."""
    panel = simulate_binary_panel(n_experts=30, n_questions=8, seed=9, rounding=None)
    assert_allclose(panel.delta.sum(axis=1), 0.0, atol=1e-12)  # rounding of a 2-term sum
    for g in range(len(panel.cohorts)):
        assert_allclose(panel.bias[panel.expert_cohort == g].mean(), 0.0, atol=1e-12)
    assert_allclose(np.log(panel.sigma).mean(), 0.0, atol=1e-12)
    assert_allclose(panel.consensus, expit(panel.mu), rtol=1e-15)


# ------------------------------------------------------------------ saved posteriors


def small_fit(**attrs) -> HierarchicalFit:
    rng = np.random.default_rng(0)
    posterior = xr.Dataset(
        {
            "mu_question": (("chain", "draw", "question"), rng.normal(size=(2, 5, 3))),
            "bias_expert": (("chain", "draw", "expert"), rng.normal(size=(2, 5, 2))),
        },
        coords={"chain": [0, 1], "draw": np.arange(5), "question": ["Q1", "Q2", "Q3"]}
        | {"expert": ["전문가", "E2"]},
    )
    stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((2, 5), dtype=bool))})
    tree = xr.DataTree.from_dict({"posterior": posterior, "sample_stats": stats})
    tree.attrs.update(
        {
            "model_name": "binary_hierarchical",
            "model_version": "1",
            "model_config": '{"nu": 4.0}',
            "data_hash": "f" * 64,
            "round": 2,
            **attrs,
        }
    )
    return HierarchicalFit(posterior=tree)


def test_a_saved_posterior_loads_with_its_values_and_attrs(tmp_path):
    fit = small_fit()
    path = fit.save(tmp_path / "deep" / "posterior.nc")  # missing folders are created
    loaded = HierarchicalFit.load(path)
    assert loaded.attrs == fit.attrs
    assert loaded.model_config == {"nu": 4.0}
    xr.testing.assert_identical(loaded.posterior["posterior"], fit.posterior["posterior"])
    assert loaded.posterior["sample_stats"]["diverging"].dtype == bool


def test_a_file_that_is_not_a_posterior_of_this_model_is_refused(tmp_path):
    path = small_fit(model_name="something_else").save(tmp_path / "other.nc")
    with pytest.raises(
        ValueError, match="does not hold a binary_hierarchical or linked_rounds posterior"
    ):
        HierarchicalFit.load(path)


def test_a_loaded_posterior_can_be_saved_over_its_own_file(tmp_path):
    path = small_fit().save(tmp_path / "posterior.nc")
    loaded = HierarchicalFit.load(path)
    loaded.posterior.attrs["note"] = "reviewed"
    loaded.save(path)
    assert HierarchicalFit.load(path).attrs["note"] == "reviewed"


def _answers(pairs) -> pd.DataFrame:
    """One answer per (expert, cohort, question)."""
    return pd.DataFrame(
        [(e, c, q, 0.6) for e, c, q in pairs],
        columns=["expert", "cohort", "question", "probability"],
    )


def test_cohorts_are_linked_through_the_questions_they_share():
    frame = _answers([
        ("a1", "A", "Q1"), ("b1", "B", "Q1"),  # A and B share Q1
        ("b1", "B", "Q2"), ("c1", "C", "Q2"),  # B and C share Q2: A-B-C linked
        ("d1", "D", "Q3"), ("d2", "D", "Q4"),  # D shares nothing
    ])  # fmt: skip
    assert cohort_components(frame) == [["A", "B", "C"], ["D"]]
    assert cohort_components(frame[frame["cohort"] != "D"]) == [["A", "B", "C"]]


def test_cohorts_that_share_no_question_are_pooled_with_their_own_bias_blocks():
    frame = _answers(
        [(f"a{i}", "A", q) for i in range(3) for q in ("Q1", "Q2")]
        + [(f"b{i}", "B", q) for i in range(2) for q in ("Q3", "Q4")]
    )
    data = BinaryPanelData.from_table(JudgmentTable.from_frame(frame))
    assert data.cohorts == ["all cohorts"] and data.pooled_cohorts == (("A",), ("B",))
    assert data.cohort_of_expert.tolist() == [0] * 5
    assert data.bias_block_sizes == [3, 2]  # biases still average 0 within each cohort
    model = BinaryHierarchicalModel().build_model(data)
    free = {v.name for v in model.free_RVs}
    assert not {"delta_raw", "lean_raw"} & free
    assert {"bias_raw_cohort0", "bias_raw_cohort1"} <= free
    # one shared question links them again: cohorts are estimated
    linked = BinaryPanelData.from_table(
        JudgmentTable.from_frame(pd.concat([frame, _answers([("b0", "B", "Q1")])]))
    )
    assert linked.cohorts == ["A", "B"] and linked.pooled_cohorts == ()
    # a mixed design keeps its measurable gaps: A and B share Q1, C shares nothing
    mixed = pd.concat([frame, _answers([("b0", "B", "Q1"), ("c0", "C", "Q9"), ("c1", "C", "Q9")])])
    mixed_data = BinaryPanelData.from_table(JudgmentTable.from_frame(mixed))
    assert mixed_data.cohorts == ["A", "B", "C"] and mixed_data.pooled_cohorts == ()
