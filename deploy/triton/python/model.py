"""Runs an ONNX model in Triton's Python backend with ONNX Runtime on the CPU.

The Triton build that PyPI carries (nvidia-pytriton) has no ONNX Runtime backend,
so facebank's local and test server (scripts/triton.sh) serves each model
through this file instead: the model's directory holds `<version>/model.onnx`
and a configuration derived from the production one in deploy/triton/models.
Clients see the same names, shapes and batching either way.

Model configuration parameters:
  intra_op_thread_count  threads one model run may use (default 1), the same
                         key Triton's ONNX Runtime backend reads.
"""

import json
import os

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils

THREADS_PARAMETER = "intra_op_thread_count"

# ONNX element types as onnxruntime names them, for the checks at load time.
ONNX_TO_NUMPY = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int8)": np.int8,
    "tensor(int16)": np.int16,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(uint8)": np.uint8,
    "tensor(uint16)": np.uint16,
    "tensor(uint32)": np.uint32,
    "tensor(uint64)": np.uint64,
    "tensor(bool)": np.bool_,
}


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        self.batched = int(config.get("max_batch_size", 0)) > 0

        path = os.path.join(args["model_repository"], args["model_version"], "model.onnx")
        self.session = ort.InferenceSession(
            path, sess_options=session_options(config), providers=["CPUExecutionProvider"]
        )

        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_types = {
            o.name: ONNX_TO_NUMPY.get(o.type) for o in self.session.get_outputs()
        }
        check_against_config(config, self.input_names, self.output_types)
        # Outputs the configuration leaves out are not computed.
        declared = {entry["name"] for entry in config.get("output", [])}
        if declared:
            self.output_types = {
                name: dtype for name, dtype in self.output_types.items() if name in declared
            }

    def execute(self, requests):
        responses = [None] * len(requests)
        feeds = [None] * len(requests)
        for i, request in enumerate(requests):
            try:
                feeds[i] = self.read_inputs(request)
            except Exception as error:
                responses[i] = failure(error)

        pending = [i for i, response in enumerate(responses) if response is None]
        if self.batched and len(pending) > 1:
            try:
                results = self.run_together([feeds[i] for i in pending])
            except Exception:
                # One request can spoil a shared run; running them one by one
                # below fails only that one.
                results = None
            if results is not None:
                for i, outputs in zip(pending, results):
                    responses[i] = self.respond(requests[i], outputs)
                pending = []

        for i in pending:
            try:
                responses[i] = self.respond(requests[i], self.run(feeds[i]))
            except Exception as error:
                responses[i] = failure(error)
        return responses

    def finalize(self):
        self.session = None

    def read_inputs(self, request):
        feed = {}
        for name in self.input_names:
            tensor = pb_utils.get_input_tensor_by_name(request, name)
            if tensor is None:
                raise ValueError(f"input {name!r} is missing")
            feed[name] = tensor.as_numpy()
        return feed

    def run(self, feed):
        names = list(self.output_types)
        return dict(zip(names, self.session.run(names, feed)))

    def run_together(self, feeds):
        """One model run over the concatenated requests, split back per request."""
        sizes = [len(feed[self.input_names[0]]) for feed in feeds]
        joined = {
            name: np.concatenate([feed[name] for feed in feeds]) for name in self.input_names
        }
        outputs = self.run(joined)

        total = sum(sizes)
        for name, array in outputs.items():
            if array.ndim == 0 or len(array) != total:
                raise ValueError(f"output {name!r} does not follow the batch dimension")
        bounds = np.cumsum(sizes)[:-1]
        parts = {name: np.split(array, bounds) for name, array in outputs.items()}
        return [{name: parts[name][k] for name in outputs} for k in range(len(feeds))]

    def respond(self, request, outputs):
        wanted = request.requested_output_names() or list(outputs)
        tensors = [
            pb_utils.Tensor(
                name, np.ascontiguousarray(outputs[name], dtype=self.output_types[name])
            )
            for name in wanted
            if name in outputs
        ]
        return pb_utils.InferenceResponse(output_tensors=tensors)


def session_options(config):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads(config)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Idle threads sleep instead of spinning: several servers may share the cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def threads(config):
    parameter = config.get("parameters", {}).get(THREADS_PARAMETER, {})
    value = parameter.get("string_value", "") or "1"
    try:
        count = int(value)
    except ValueError:
        raise pb_utils.TritonModelException(
            f"parameter {THREADS_PARAMETER} must be a whole number, not {value!r}"
        )
    return max(count, 1)


def check_against_config(config, input_names, output_types):
    """Fails the load, with a clear message, when config.pbtxt and the model disagree."""
    for entry in config.get("input", []):
        if entry["name"] not in input_names:
            raise pb_utils.TritonModelException(
                f"config input {entry['name']!r} is not an input of the model {input_names}"
            )
    for entry in config.get("output", []):
        name = entry["name"]
        if name not in output_types:
            raise pb_utils.TritonModelException(
                f"config output {name!r} is not an output of the model {list(output_types)}"
            )
        expected = pb_utils.triton_string_to_numpy(entry["data_type"])
        if output_types[name] is None or np.dtype(output_types[name]) != np.dtype(expected):
            raise pb_utils.TritonModelException(
                f"output {name!r} is {entry['data_type']} in the config but not in the model"
            )


def failure(error):
    """A response that fails only its own request."""
    if isinstance(error, ValueError) or "INVALID_ARGUMENT" in str(error):
        code = pb_utils.TritonError.INVALID_ARG
    else:
        code = pb_utils.TritonError.INTERNAL
    return pb_utils.InferenceResponse(
        output_tensors=[], error=pb_utils.TritonError(str(error), code)
    )
