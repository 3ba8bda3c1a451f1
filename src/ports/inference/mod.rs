//! The inference port: runs a named model on a tensor. It carries tensors, not
//! faces; pre- and post-processing live in the pipeline, so every engine gives
//! the same answers.

mod tract;
pub mod triton;

pub use self::{tract::TractEngine, triton::TritonEngine};

use async_trait::async_trait;

use crate::error::Result;

/// A dense float32 tensor in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Tensor {
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Tensor { shape, data }
    }
}

/// The outputs of one model run, by output name.
#[derive(Debug, Clone, Default)]
pub struct Outputs(pub Vec<(String, Tensor)>);

impl Outputs {
    pub fn get(&self, name: &str) -> Result<&Tensor> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t)
            .ok_or_else(|| {
                crate::error::Error::Internal(format!("the model gave no output named {name:?}"))
            })
    }
}

/// Which of the configured models to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Model {
    Detector,
    Recogniser,
}

#[async_trait]
pub trait InferenceEngine: Send + Sync + 'static {
    /// Runs `model` on one input tensor.
    async fn infer(&self, model: Model, input: Tensor) -> Result<Outputs>;

    /// The server the engine depends on, for health reports; `None` for an
    /// engine that runs in process.
    fn backend(&self) -> Option<&'static str> {
        None
    }

    /// Whether the engine can serve now.
    async fn check(&self) -> Result<()> {
        Ok(())
    }
}
