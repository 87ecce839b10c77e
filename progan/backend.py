"""The one place training differs between Keras backends: how a gradient is taken and how a
training step is compiled. Everything else (networks, losses, the step's body, EMA) is written
once with ``keras.ops``.

TensorFlow differentiates with ``GradientTape`` and compiles the step with ``tf.function`` under
a ``tf.distribute`` strategy. JAX has no tape and no mutable state inside ``jax.jit``: the step
runs in a ``keras.StatelessScope`` that maps every variable of the run to a traced value, so the
same body that "assigns" (Adam's update, the EMA) only records new values, which the compiled
function returns and the caller writes back. A gradient is ``jax.grad`` of a function that maps
the variables being differentiated to its argument and every other variable to its current
value in the step.
"""

from __future__ import annotations

import math
import os
import sys
import time
import types
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from progan.errors import ProganError

BACKENDS = ("tensorflow", "jax")
# While a JAX step is traced: every variable of the run, and the scope holding their values.
_trace: tuple[list, Any] | None = None


def select(name: str | None) -> str:
    """Make ``name`` (or ``$KERAS_BACKEND``, else TensorFlow) the Keras backend of this process.

    It must happen before Keras is imported; a process that already loaded Keras with another
    backend is refused rather than left half-switched.
    """
    chosen = name or os.environ.get("KERAS_BACKEND") or "tensorflow"
    if chosen not in BACKENDS:
        raise ProganError(f"unknown backend {chosen!r}; choose {' or '.join(BACKENDS)}")
    if "keras" in sys.modules:
        loaded = sys.modules["keras"].backend.backend()
        if loaded != chosen:
            raise ProganError(f"Keras already runs on {loaded}; start a new process for {chosen}")
    os.environ["KERAS_BACKEND"] = chosen
    return chosen


def name() -> str:
    import keras

    return keras.backend.backend()


def has_gpu() -> bool:
    if name() == "jax":
        import jax

        return any(device.platform == "gpu" for device in jax.devices())
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


# TensorFlow's other words for a full GPU: a batch that cannot be copied to it, cuDNN's
# workspace that cannot be allocated.
TF_OUT_OF_MEMORY = ("Dst tensor is not initialized", "CUDNN_STATUS_ALLOC_FAILED")


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is the backend saying a device ran out of memory (TensorFlow's
    ResourceExhaustedError and :data:`TF_OUT_OF_MEMORY`; under JAX a runtime error whose status
    is RESOURCE_EXHAUSTED)."""
    if name() == "jax":
        import jax

        return isinstance(error, jax.errors.JaxRuntimeError) and "RESOURCE_EXHAUSTED" in str(error)
    import tensorflow as tf

    if isinstance(error, tf.errors.ResourceExhaustedError):
        return True
    return isinstance(error, tf.errors.OpError) and any(
        m in error.message for m in TF_OUT_OF_MEMORY
    )


def tensorboard_writer(folder: str):
    """TensorBoard's own NumPy event writer, the same files under either backend.

    TensorBoard imports TensorFlow when it is installed unless its marker module
    ``tensorboard.compat.notf`` exists; under JAX that marker is provided, so a JAX run never
    loads TensorFlow just to write scalars.
    """
    if name() == "jax":
        sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("notf"))
    from tensorboard.summary import Writer

    return Writer(folder)


def scaled(optimizer, loss):
    """A float16 run's loss, multiplied by the optimizer's loss scale (undone when it applies)."""
    import keras

    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer.scale_loss(loss)
    return loss


def input_gradient(objective: Callable[[Any], tuple[Any, Any]], x) -> tuple[Any, Any]:
    """``(aux, ∇ₓ s)`` for ``objective(x) -> (s, aux)`` with ``s`` a scalar (the penalties)."""
    if name() == "jax":
        import jax

        grads, aux = jax.grad(objective, has_aux=True)(x)
        return aux, grads
    import tensorflow as tf

    with tf.GradientTape() as tape:
        tape.watch(x)
        total, aux = objective(x)
    return aux, tape.gradient(total, x)


def minimize(optimizer, variables: Sequence, loss_fn: Callable[[], tuple[Any, Any]]):
    """One update of ``variables`` by ``optimizer`` for ``loss_fn() -> (loss, aux)``.

    Returns ``(loss, aux)``. Under JAX this runs inside :func:`compile_step`'s scope: the update
    is recorded there, not applied in place. ``loss_fn`` must not assign variables (under JAX
    such writes would be lost): every random number of a step comes in with its batch.
    """
    if name() == "jax":
        import jax
        import keras

        if _trace is None:
            raise RuntimeError("minimize runs inside a step made by compile_step")
        everything, outer = _trace
        targets = {id(v) for v in variables}
        others = [(v, outer.get_current_value(v)) for v in everything if id(v) not in targets]

        def objective(values):
            mapping = others + list(zip(variables, values, strict=True))
            with keras.StatelessScope(state_mapping=mapping):
                loss, aux = loss_fn()
            return scaled(optimizer, loss), (loss, aux)

        current = [outer.get_current_value(v) for v in variables]
        grads, (loss, aux) = jax.grad(objective, has_aux=True)(current)
        # Applied statelessly and assigned in the step's scope: a float16 run's loss-scale
        # optimizer branches with ops.cond, whose assignments must not leak out of the branch.
        trained, state = optimizer.stateless_apply(
            [outer.get_current_value(v) for v in optimizer.variables],
            grads,
            current,
        )
        updated = [*variables, *optimizer.variables]
        for variable, value in zip(updated, [*trained, *state], strict=True):
            variable.assign(value)
        return loss, aux
    else:
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss, aux = loss_fn()
            objective = scaled(optimizer, loss)
        grads = tape.gradient(objective, list(variables))
    optimizer.apply_gradients(list(zip(grads, variables, strict=True)))
    return loss, aux


def compile_step(
    body: Callable[[dict, Any], dict],
    after: Callable[[Any], None],
    variables: Sequence,
    strategy=None,
    jit: bool = False,
    data_parallel: bool = False,
) -> Callable[[dict, Any], dict]:
    """``step(batch, alpha) -> metrics``: ``body`` per replica, then ``after(alpha)`` once (the
    EMA).

    TensorFlow: a ``tf.function`` (XLA with ``jit``) that runs ``body`` on every replica of
    ``strategy`` and sums the metrics (each replica's are means over the global batch). JAX:
    always ``jax.jit``; ``variables`` (every variable the step reads or writes) go in as values
    and come back updated, and are assigned after each call. With ``data_parallel`` the batch
    is split over the local devices along its first axis and the variables are replicated; the
    compiler inserts the gradient all-reduce, and the step's arithmetic is the one-device one.
    """
    if name() == "jax":
        return _jax_step(body, after, list(variables), data_parallel)
    import tensorflow as tf

    @tf.function(jit_compile=jit, autograph=False)
    def step(batch, alpha):
        per_replica = strategy.run(body, args=(batch, alpha))
        after(alpha)
        return {
            k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
            for k, v in per_replica.items()
        }

    return step


def fastest_step(
    candidates: dict[str, Callable[[dict, Any], dict]],
    trials: int,
    report: Callable[[str, dict[str, float]], None],
) -> Callable[[dict, Any], dict]:
    """A step that runs the candidates in turn until each has ``trials`` timed calls (its first
    call traces and compiles, and is not timed), then keeps the one with the lowest median.

    Every call is a real training step: the candidates compute the same update (up to float
    round-off), so the trial steps are part of the run, not extra work. ``report(chosen,
    median seconds by name)`` is called once, when the choice is made. A candidate that runs
    out of device memory (XLA may need more than the plain step) drops out with an infinite
    time, and its step is taken by the next one; the last one left raises as any step does.
    """
    names = list(candidates)
    times: dict[str, list[float]] = {name: [] for name in names}
    calls = 0
    chosen: str | None = None

    def step(batch, alpha):
        nonlocal calls, chosen
        if chosen is not None:
            return candidates[chosen](batch, alpha)
        name = names[calls % len(names)]
        timed = calls >= len(names)
        calls += 1
        start = time.perf_counter()
        try:
            metrics = candidates[name](batch, alpha)
            float(next(iter(metrics.values())))  # wait for the step to finish
        except Exception as err:
            if len(names) == 1 or not is_out_of_memory(err):
                raise
            names.remove(name)
            times[name] = [math.inf] * trials
            calls = len(names)  # the others' first calls are behind them or come next
            return step(batch, alpha)
        if timed:
            times[name].append(time.perf_counter() - start)
        if all(len(t) >= trials for t in times.values()):
            medians = {n: float(np.median(t)) for n, t in times.items()}
            chosen = min(medians, key=medians.__getitem__)
            report(chosen, medians)
        return metrics

    return step


def _jax_step(body, after, variables: list, data_parallel: bool):
    import jax
    import keras
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    def pure(values, batch, alpha):
        global _trace
        with keras.StatelessScope(state_mapping=list(zip(variables, values, strict=True))) as scope:
            _trace = (variables, scope)
            try:
                metrics = body(batch, alpha)
                after(alpha)
            finally:
                _trace = None
            updated = [scope.get_current_value(v) for v in variables]
        return updated, metrics

    compiled = jax.jit(pure)
    mesh = Mesh(jax.local_devices(), ("batch",)) if data_parallel else None

    def step(batch, alpha):
        values = [v.value for v in variables]
        if mesh is not None:
            batch = jax.device_put(batch, NamedSharding(mesh, PartitionSpec("batch")))
            values = jax.device_put(values, NamedSharding(mesh, PartitionSpec()))
        updated, metrics = compiled(values, batch, alpha)
        for variable, value in zip(variables, updated, strict=True):
            variable.assign(value)
        return metrics

    return step
