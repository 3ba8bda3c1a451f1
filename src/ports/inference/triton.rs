//! Inference on NVIDIA Triton Inference Server over gRPC, the KServe v2
//! protocol. Tensors travel as raw little-endian bytes; all faces of a request
//! go in one call (split only above `max_batch_size`). Each call has a
//! deadline, at most `max_concurrency` are in flight, and a call the server
//! answers with UNAVAILABLE is retried with a doubling back-off. At start the
//! models' metadata is checked against what the pipeline sends and reads, so a
//! wrong model name or embedding size stops facebank with a clear message
//! instead of failing request by request.

use std::time::Duration;

use anyhow::{bail, Context};
use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::Semaphore;
use tonic::{
    transport::{Channel, Endpoint},
    Code, Status,
};

use super::{InferenceEngine, Model, Outputs, Tensor};
use crate::{
    config::TritonConfig,
    error::{Error, Result},
    pipeline::RecogniserSpec,
};

/// The generated client of `inference.GRPCInferenceService`.
pub mod pb {
    tonic::include_proto!("inference");
}

use pb::{
    grpc_inference_service_client::GrpcInferenceServiceClient,
    model_infer_request::{InferInputTensor, InferRequestedOutputTensor},
    model_metadata_response::TensorMetadata,
};

const BACKEND: &str = "triton";
/// Deadline of the health probes.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Replies carry at most a few megabytes of detections or embeddings.
const MAX_MESSAGE: usize = 256 << 20;

pub struct TritonEngine {
    url: String,
    client: GrpcInferenceServiceClient<Channel>,
    version: String,
    detector: RemoteModel,
    recogniser: RemoteModel,
    permits: Semaphore,
    timeout: Duration,
    retries: u32,
    backoff: Duration,
    max_batch: usize,
}

/// A model as the server describes it.
#[derive(Debug, Clone)]
struct RemoteModel {
    name: String,
    input: String,
    /// Requested in this order, which is the order the pipeline reads.
    outputs: Vec<String>,
}

/// What the pipeline sends to and reads from a model. `None` is a dimension
/// that varies from call to call.
struct Contract {
    input: Vec<Option<i64>>,
    /// Output names with their last dimension. A `None` name is the model's
    /// first output, whatever it is called.
    outputs: Vec<(Option<&'static str>, i64)>,
}

impl Contract {
    /// RetinaFace: one NHWC image in, boxes, landmarks and two-class scores
    /// per prior out.
    fn detector() -> Contract {
        Contract {
            input: vec![Some(1), None, None, Some(3)],
            outputs: vec![
                (Some("bbox"), 4),
                (Some("landmarks"), 10),
                (Some("scores"), 2),
            ],
        }
    }

    /// A batch of aligned NCHW crops in, one embedding per crop out.
    fn recogniser(spec: &RecogniserSpec) -> Contract {
        let size = i64::from(spec.template.size);
        Contract {
            input: vec![None, Some(3), Some(size), Some(size)],
            outputs: vec![(None, spec.dimension as i64)],
        }
    }
}

impl TritonEngine {
    /// Connects to the server, waits up to `timeout_ms` for it to be ready and
    /// checks both models against what the pipeline expects.
    pub async fn connect(config: &TritonConfig, spec: &RecogniserSpec) -> anyhow::Result<Self> {
        let channel = Endpoint::from_shared(config.url.clone())
            .with_context(|| format!("triton.url {:?} is not a valid address", config.url))?
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(true)
            .connect_lazy();
        let client = GrpcInferenceServiceClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE);

        let unchecked = |name: &str| RemoteModel {
            name: name.to_owned(),
            input: String::new(),
            outputs: Vec::new(),
        };
        let mut engine = TritonEngine {
            url: config.url.clone(),
            client,
            version: config.model_version.clone(),
            detector: unchecked(&config.detector_model),
            recogniser: unchecked(&config.recogniser_model),
            permits: Semaphore::new(config.max_concurrency.max(1)),
            timeout: Duration::from_millis(config.timeout_ms),
            retries: config.retries,
            backoff: Duration::from_millis(config.retry_backoff_ms),
            max_batch: config.max_batch_size.max(1),
        };

        engine
            .wait_until_ready(Duration::from_millis(config.timeout_ms))
            .await?;
        engine.detector = engine
            .describe(&config.detector_model, "detector", &Contract::detector())
            .await?;
        engine.recogniser = engine
            .describe(
                &config.recogniser_model,
                "recogniser",
                &Contract::recogniser(spec),
            )
            .await?;
        Ok(engine)
    }

    async fn wait_until_ready(&self, patience: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let mut request = tonic::Request::new(pb::ServerReadyRequest {});
            request.set_timeout(PROBE_TIMEOUT);
            let outcome = self.client.clone().server_ready(request).await;
            match outcome {
                Ok(reply) if reply.get_ref().ready => return Ok(()),
                _ if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                Ok(_) => bail!("the Triton server at {} is not ready", self.url),
                Err(status) => bail!(
                    "cannot reach the Triton server at {}: {}",
                    self.url,
                    status.message()
                ),
            }
        }
    }

    /// Reads a model's metadata and checks it against `contract`.
    async fn describe(
        &self,
        name: &str,
        role: &str,
        contract: &Contract,
    ) -> anyhow::Result<RemoteModel> {
        let key = format!("triton.{role}_model");
        let ready = self
            .client
            .clone()
            .model_ready(pb::ModelReadyRequest {
                name: name.to_owned(),
                version: self.version.clone(),
            })
            .await
            .map(|reply| reply.into_inner().ready)
            .unwrap_or(false);
        if !ready {
            bail!(
                "the Triton server at {} has no ready model {name:?}{} ({key})",
                self.url,
                self.version_note()
            );
        }

        let metadata = self
            .client
            .clone()
            .model_metadata(pb::ModelMetadataRequest {
                name: name.to_owned(),
                version: self.version.clone(),
            })
            .await
            .with_context(|| format!("cannot read the metadata of Triton model {name:?}"))?
            .into_inner();
        let mismatch = |what: String| {
            anyhow::anyhow!("Triton model {name:?} ({key}) does not fit facebank's {role}: {what}")
        };

        let [input] = metadata.inputs.as_slice() else {
            return Err(mismatch(format!(
                "it takes {} inputs; the {role} sends one",
                metadata.inputs.len()
            )));
        };
        check_tensor(input, &contract.input).map_err(|what| mismatch(format!("input: {what}")))?;

        let mut outputs = Vec::new();
        for (wanted, last) in &contract.outputs {
            let found = match wanted {
                Some(wanted) => metadata.outputs.iter().find(|o| o.name == *wanted),
                None => metadata.outputs.first(),
            }
            .ok_or_else(|| mismatch(format!("it has no output {:?}", wanted.unwrap_or("(any)"))))?;
            let mut shape = vec![None; found.shape.len().max(1) - 1];
            shape.push(Some(*last));
            check_tensor(found, &shape)
                .map_err(|what| mismatch(format!("output {:?}: {what}", found.name)))?;
            outputs.push(found.name.clone());
        }

        tracing::info!(model = name, url = %self.url, "Triton model checked");
        Ok(RemoteModel {
            name: name.to_owned(),
            input: input.name.clone(),
            outputs,
        })
    }

    fn version_note(&self) -> String {
        match self.version.as_str() {
            "" => String::new(),
            version => format!(" at version {version}"),
        }
    }

    fn model(&self, model: Model) -> &RemoteModel {
        match model {
            Model::Detector => &self.detector,
            Model::Recogniser => &self.recogniser,
        }
    }

    /// One `ModelInfer` call, retried while the server is unavailable.
    async fn call(&self, remote: &RemoteModel, input: Tensor) -> Result<Outputs> {
        let raw: Vec<u8> = input.data.iter().flat_map(|v| v.to_le_bytes()).collect();
        let request = pb::ModelInferRequest {
            model_name: remote.name.clone(),
            model_version: self.version.clone(),
            inputs: vec![InferInputTensor {
                name: remote.input.clone(),
                datatype: "FP32".into(),
                shape: input.shape.iter().map(|&d| d as i64).collect(),
                ..Default::default()
            }],
            outputs: remote
                .outputs
                .iter()
                .map(|name| InferRequestedOutputTensor {
                    name: name.clone(),
                    ..Default::default()
                })
                .collect(),
            raw_input_contents: vec![Bytes::from(raw)],
            ..Default::default()
        };

        let _permit = self.permits.acquire().await.map_err(Error::internal)?;
        let mut attempt = 0;
        let reply = loop {
            let mut call = tonic::Request::new(request.clone());
            call.set_timeout(self.timeout);
            match self.client.clone().model_infer(call).await {
                Ok(reply) => break reply.into_inner(),
                Err(status) if status.code() == Code::Unavailable && attempt < self.retries => {
                    tokio::time::sleep(self.backoff * 2u32.saturating_pow(attempt)).await;
                    attempt += 1;
                }
                Err(status) => return Err(self.failure(&remote.name, status)),
            }
        };
        read_outputs(&remote.name, &remote.outputs, reply)
    }

    fn failure(&self, model: &str, status: Status) -> Error {
        let message = format!(
            "{model} at {}: {:?}: {}",
            self.url,
            status.code(),
            status.message()
        );
        match status.code() {
            Code::Unavailable
            | Code::DeadlineExceeded
            | Code::ResourceExhausted
            | Code::Cancelled
            | Code::Unknown
            | Code::NotFound => Error::Unavailable {
                backend: BACKEND,
                message,
            },
            _ => Error::Internal(format!("Triton refused {message}")),
        }
    }
}

/// Checks a tensor's datatype and the dimensions both sides fix.
fn check_tensor(
    tensor: &TensorMetadata,
    wanted: &[Option<i64>],
) -> std::result::Result<(), String> {
    if tensor.datatype != "FP32" {
        return Err(format!("datatype {} where FP32 is needed", tensor.datatype));
    }
    let fits = tensor.shape.len() == wanted.len()
        && tensor
            .shape
            .iter()
            .zip(wanted)
            .all(|(&have, want)| have == -1 || want.is_none_or(|w| w == have));
    if fits {
        Ok(())
    } else {
        let wanted: Vec<String> = wanted
            .iter()
            .map(|d| d.map_or_else(|| "any".into(), |d| d.to_string()))
            .collect();
        Err(format!(
            "shape {:?} where [{}] is needed",
            tensor.shape,
            wanted.join(", ")
        ))
    }
}

/// The requested outputs of a reply, raw contents first, typed contents as
/// the fallback.
fn read_outputs(model: &str, names: &[String], reply: pb::ModelInferResponse) -> Result<Outputs> {
    let bad = |what: String| Error::Internal(format!("Triton model {model} answered {what}"));
    let mut outputs = Vec::with_capacity(names.len());
    for name in names {
        let position = reply
            .outputs
            .iter()
            .position(|o| &o.name == name)
            .ok_or_else(|| bad(format!("without the output {name:?}")))?;
        let output = &reply.outputs[position];
        if output.datatype != "FP32" {
            return Err(bad(format!("{name:?} as {}", output.datatype)));
        }
        let shape = output
            .shape
            .iter()
            .map(|&d| usize::try_from(d))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|_| bad(format!("{name:?} with the shape {:?}", output.shape)))?;
        let data: Vec<f32> = match reply.raw_output_contents.get(position) {
            Some(raw) => raw
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            None => output
                .contents
                .as_ref()
                .map(|c| c.fp32_contents.clone())
                .unwrap_or_default(),
        };
        if data.len() != shape.iter().product::<usize>() {
            return Err(bad(format!(
                "{name:?} with {} values for the shape {shape:?}",
                data.len()
            )));
        }
        outputs.push((name.clone(), Tensor::new(shape, data)));
    }
    Ok(Outputs(outputs))
}

/// Joins the outputs of consecutive batches along the first dimension.
fn concatenate(parts: Vec<Outputs>) -> Result<Outputs> {
    let mut parts = parts.into_iter();
    let Some(mut joined) = parts.next() else {
        return Ok(Outputs::default());
    };
    for part in parts {
        for ((_, whole), (_, more)) in joined.0.iter_mut().zip(part.0) {
            if whole.shape.get(1..) != more.shape.get(1..) {
                return Err(Error::Internal(format!(
                    "batches answered with the shapes {:?} and {:?}",
                    whole.shape, more.shape
                )));
            }
            whole.shape[0] += more.shape[0];
            whole.data.extend(more.data);
        }
    }
    Ok(joined)
}

#[async_trait]
impl InferenceEngine for TritonEngine {
    async fn infer(&self, model: Model, input: Tensor) -> Result<Outputs> {
        let remote = self.model(model);
        let count = input.shape.first().copied().unwrap_or(0);
        if model == Model::Detector || count <= self.max_batch {
            return self.call(remote, input).await;
        }

        let per_item = input.data.len() / count;
        let calls = input.data.chunks(self.max_batch * per_item).map(|chunk| {
            let mut shape = input.shape.clone();
            shape[0] = chunk.len() / per_item;
            self.call(remote, Tensor::new(shape, chunk.to_vec()))
        });
        concatenate(futures::future::try_join_all(calls).await?)
    }

    fn backend(&self) -> Option<&'static str> {
        Some(BACKEND)
    }

    async fn check(&self) -> Result<()> {
        for remote in [&self.detector, &self.recogniser] {
            let mut request = tonic::Request::new(pb::ModelReadyRequest {
                name: remote.name.clone(),
                version: self.version.clone(),
            });
            request.set_timeout(PROBE_TIMEOUT);
            match self.client.clone().model_ready(request).await {
                Ok(reply) if reply.get_ref().ready => {}
                Ok(_) => {
                    return Err(Error::Unavailable {
                        backend: BACKEND,
                        message: format!("the model {} is not ready", remote.name),
                    })
                }
                Err(status) => return Err(self.failure(&remote.name, status)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(datatype: &str, shape: &[i64]) -> TensorMetadata {
        TensorMetadata {
            name: "t".into(),
            datatype: datatype.into(),
            shape: shape.to_vec(),
        }
    }

    #[test]
    fn variable_dimensions_fit_and_fixed_ones_must_agree() {
        let wanted = [None, Some(3), Some(150), Some(150)];
        assert!(check_tensor(&metadata("FP32", &[-1, 3, 150, 150]), &wanted).is_ok());
        assert!(check_tensor(&metadata("FP32", &[8, 3, -1, -1]), &wanted).is_ok());
        assert!(check_tensor(&metadata("FP32", &[-1, 3, 112, 112]), &wanted).is_err());
        assert!(check_tensor(&metadata("FP16", &[-1, 3, 150, 150]), &wanted).is_err());
        assert!(check_tensor(&metadata("FP32", &[3, 150, 150]), &wanted).is_err());
    }

    #[test]
    fn raw_outputs_are_read_in_the_requested_order() {
        let tensor = |name: &str, shape: Vec<i64>| pb::model_infer_response::InferOutputTensor {
            name: name.into(),
            datatype: "FP32".into(),
            shape,
            ..Default::default()
        };
        let raw = |values: &[f32]| -> Bytes {
            values
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<u8>>()
                .into()
        };
        let reply = pb::ModelInferResponse {
            outputs: vec![tensor("b", vec![1, 2]), tensor("a", vec![1, 1])],
            raw_output_contents: vec![raw(&[1.0, 2.0]), raw(&[3.0])],
            ..Default::default()
        };
        let outputs = read_outputs("m", &["a".into(), "b".into()], reply.clone()).unwrap();
        assert_eq!(outputs.0[0].1, Tensor::new(vec![1, 1], vec![3.0]));
        assert_eq!(outputs.0[1].1, Tensor::new(vec![1, 2], vec![1.0, 2.0]));

        let short = pb::ModelInferResponse {
            raw_output_contents: vec![raw(&[1.0]), raw(&[3.0])],
            ..reply
        };
        assert!(read_outputs("m", &["b".into()], short).is_err());
    }

    #[test]
    fn split_batches_are_joined_in_order() {
        let part = |rows: usize, first: f32| {
            let data = (0..rows * 2).map(|i| first + i as f32).collect();
            Outputs(vec![("e".into(), Tensor::new(vec![rows, 2], data))])
        };
        let joined = concatenate(vec![part(2, 0.0), part(1, 4.0)]).unwrap();
        assert_eq!(
            joined.0[0].1,
            Tensor::new(vec![3, 2], vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
        );
    }
}
