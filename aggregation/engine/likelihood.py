"""``PanelStudentTLogp``: the fused Student-t kernel (density.py) as a PyTensor Op.

With it, the likelihood (1) of ``hierarchical.py`` is one node of the PyMC model, whose
value and gradient come from one pass of ``kernel.panel_student_t``; PyMC and nutpie
compile it like any other op (the numba dispatch below).
"""

import hashlib
import inspect

import numba
import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key

from aggregation.engine.density import panel_student_t


class PanelStudentTLogp(Op):
    """Outputs [logp, d logp / d each parameter] of ``panel_student_t`` as one Apply.

    Inputs: y, idx (data, no gradient), mu, delta_flat, bias, log_slope, log_sigma,
    log_kappa.
    The gradient outputs are what ``grad`` hands back, so logp and gradient share one pass.
    """

    __props__ = ("nu",)

    def __init__(self, nu: float) -> None:
        self.nu = float(nu)

    def make_node(self, y, idx, mu, delta_flat, bias, log_slope, log_sigma, log_kappa) -> Apply:
        inputs = [
            pt.as_tensor_variable(v)
            for v in (y, idx, mu, delta_flat, bias, log_slope, log_sigma, log_kappa)
        ]
        outputs = [pt.dscalar()] + [v.type() for v in inputs[2:]]
        return Apply(self, inputs, outputs)

    def perform(self, node, inputs, output_storage) -> None:
        results = panel_student_t(*inputs, self.nu)
        for storage, value in zip(output_storage, results, strict=True):
            storage[0] = np.asarray(value, dtype=np.float64)

    def connection_pattern(self, node):
        data = [[False] * 7, [False] * 7]  # y and idx: no gradient flows into data
        params = [[True] * 7 for _ in range(6)]
        return data + params

    def pullback(self, inputs, outputs, output_grads):
        if any(not isinstance(g.type, DisconnectedType) for g in output_grads[1:]):
            raise NotImplementedError(
                "second derivatives of the panel likelihood are not implemented"
            )
        return [DisconnectedType()(), DisconnectedType()()] + [
            output_grads[0] * gradient for gradient in outputs[1:]
        ]


# PyTensor caches compiled graphs by the op's type and props; the kernel's own source is
# added to the key so that a change to the kernel is never served from a stale cache.
_KERNEL_VERSION = int(
    hashlib.sha256(inspect.getsource(panel_student_t.py_func).encode()).hexdigest()[:15], 16
)


@register_funcify_default_op_cache_key(PanelStudentTLogp)
def _numba_panel_student_t(op, node, **kwargs):
    nu = op.nu

    @numba.njit
    def panel_student_t_op(y, idx, mu, delta_flat, bias, log_slope, log_sigma, log_kappa):
        logp, g_mu, g_delta, g_bias, g_log_slope, g_log_sigma, g_log_kappa = panel_student_t(
            y, idx, mu, delta_flat, bias, log_slope, log_sigma, log_kappa, nu
        )
        return np.array(logp), g_mu, g_delta, g_bias, g_log_slope, g_log_sigma, g_log_kappa

    return panel_student_t_op, _KERNEL_VERSION
