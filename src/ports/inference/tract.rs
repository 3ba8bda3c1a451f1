//! In-process inference with `tract`, pure Rust. Each model is parsed once;
//! an optimised plan is built per input shape (the batch dimension stays
//! symbolic when the model declares it so) and kept for reuse. Runs happen on
//! tokio's blocking pool, at most `max_concurrency` at a time, so the async
//! runtime never stalls on a convolution.

use std::{
    collections::HashMap,
    path::Path,
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use tokio::sync::Semaphore;
use tract_linalg::multithread::Executor;
use tract_onnx::{prelude::*, tract_core::runtime::RunOptions};

use super::{InferenceEngine, Model, Outputs, Tensor};
use crate::error::{Error, Result};

type Plan = Arc<TypedRunnableModel>;

/// Plans kept per model; each distinct padded detector input shape needs one.
const MAX_PLANS_PER_MODEL: usize = 48;

pub struct TractEngine {
    detector: Arc<LoadedModel>,
    recogniser: Arc<LoadedModel>,
    permits: Arc<Semaphore>,
}

struct LoadedModel {
    name: String,
    source: InferenceModel,
    output_names: Vec<String>,
    /// Whether plans leave the first input dimension (the batch) open, so that
    /// one plan serves every batch size. The detector's graph computes resize
    /// scales from its input shape and needs every dimension fixed.
    symbolic_batch: bool,
    options: RunOptions,
    plans: Mutex<HashMap<Vec<usize>, Plan>>,
}

impl TractEngine {
    /// Loads both models. `threads_per_run` above 1 gives each run a share of
    /// one thread pool of that size.
    pub fn load(
        detector: &Path,
        recogniser: &Path,
        max_concurrency: usize,
        threads_per_run: usize,
    ) -> Result<Self> {
        let options = RunOptions {
            executor: (threads_per_run > 1).then(|| Executor::multithread(threads_per_run)),
            ..RunOptions::default()
        };
        Ok(TractEngine {
            detector: Arc::new(LoadedModel::load(detector, false, options.clone())?),
            recogniser: Arc::new(LoadedModel::load(recogniser, true, options)?),
            permits: Arc::new(Semaphore::new(max_concurrency.max(1))),
        })
    }

    /// Builds the plans for the given input shapes ahead of the first request.
    pub fn warm_up(&self, model: Model, shapes: &[Vec<usize>]) -> Result<()> {
        for shape in shapes {
            self.model(model).plan(shape)?;
        }
        Ok(())
    }

    fn model(&self, model: Model) -> &Arc<LoadedModel> {
        match model {
            Model::Detector => &self.detector,
            Model::Recogniser => &self.recogniser,
        }
    }
}

#[async_trait]
impl InferenceEngine for TractEngine {
    async fn infer(&self, model: Model, input: Tensor) -> Result<Outputs> {
        let loaded = Arc::clone(self.model(model));
        let _permit = self.permits.acquire().await.map_err(Error::internal)?;

        tokio::task::spawn_blocking(move || loaded.run(input))
            .await
            .map_err(|e| Error::Internal(format!("inference task failed: {e}")))?
    }
}

impl LoadedModel {
    fn load(path: &Path, symbolic_batch: bool, options: RunOptions) -> Result<Self> {
        let source = tract_onnx::onnx().model_for_path(path).map_err(|e| {
            Error::Internal(format!("cannot load the model {}: {e:#}", path.display()))
        })?;
        let output_names = source
            .output_outlets()
            .map_err(Error::internal)?
            .iter()
            .map(|outlet| {
                source
                    .outlet_label(*outlet)
                    .map_or_else(|| source.node(outlet.node).name.clone(), String::from)
            })
            .collect();

        Ok(LoadedModel {
            name: path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            source,
            output_names,
            symbolic_batch,
            options,
            plans: Mutex::new(HashMap::new()),
        })
    }

    fn plan(&self, shape: &[usize]) -> Result<Plan> {
        let mut key = shape.to_vec();
        if self.symbolic_batch && !key.is_empty() {
            key[0] = 0;
        }
        if let Some(plan) = self.plans.lock().expect("plan cache poisoned").get(&key) {
            return Ok(Arc::clone(plan));
        }

        let plan = self.optimise(&key).map_err(|e| {
            Error::Internal(format!(
                "cannot prepare {} for input {shape:?}: {e:#}",
                self.name
            ))
        })?;
        let mut plans = self.plans.lock().expect("plan cache poisoned");
        if plans.len() >= MAX_PLANS_PER_MODEL {
            plans.clear();
        }
        plans.insert(key, Arc::clone(&plan));
        Ok(plan)
    }

    fn optimise(&self, key: &[usize]) -> TractResult<Plan> {
        let mut model = self.source.clone();
        let dims: TVec<TDim> = key
            .iter()
            .enumerate()
            .map(|(i, &d)| {
                if i == 0 && self.symbolic_batch {
                    model.symbols.sym("N").into()
                } else {
                    d.to_dim()
                }
            })
            .collect();
        model.set_input_fact(0, f32::fact(dims).into())?;
        model
            .into_optimized()?
            .into_runnable_with_options(&self.options)
    }

    fn run(&self, input: Tensor) -> Result<Outputs> {
        let plan = self.plan(&input.shape)?;
        let tensor = tract_ndarray::Array::from_shape_vec(input.shape.clone(), input.data)
            .map_err(Error::internal)?
            .into_tensor();

        let results = plan
            .run(tvec!(tensor.into_tvalue()))
            .map_err(|e| Error::Internal(format!("{} failed: {e:#}", self.name)))?;

        let outputs = results
            .iter()
            .zip(&self.output_names)
            .map(|(value, name)| {
                let view = value
                    .to_plain_array_view::<f32>()
                    .map_err(Error::internal)?;
                let tensor = Tensor::new(view.shape().to_vec(), view.iter().copied().collect());
                Ok((name.clone(), tensor))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Outputs(outputs))
    }
}
