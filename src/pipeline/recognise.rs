//! The recogniser: aligned crops of all faces of an image go through the
//! embedding model in one batch; the embeddings come back L2-normalised, so
//! cosine similarity is a dot product.

use std::sync::Arc;

use image::RgbImage;

use super::{
    align::{align_into, Template},
    geometry::Detection,
};
use crate::{
    domain::{ModelSpec, COSINE},
    error::{Error, Result},
    ports::inference::{InferenceEngine, Model, Tensor},
};

/// A unit-length face embedding.
pub type Embedding = Vec<f32>;

/// What a recogniser model is, so that another one can be configured.
#[derive(Debug, Clone, PartialEq)]
pub struct RecogniserSpec {
    pub name: String,
    pub version: String,
    pub template: Template,
    pub dimension: usize,
}

impl RecogniserSpec {
    /// The model as collections are pinned to it.
    pub fn model(&self) -> ModelSpec {
        ModelSpec {
            name: self.name.clone(),
            version: self.version.clone(),
            dimension: u32::try_from(self.dimension).unwrap_or(u32::MAX),
            metric: COSINE.into(),
        }
    }
}

pub struct Recogniser {
    engine: Arc<dyn InferenceEngine>,
    spec: RecogniserSpec,
}

impl Recogniser {
    pub fn new(engine: Arc<dyn InferenceEngine>, spec: RecogniserSpec) -> Self {
        Recogniser { engine, spec }
    }

    pub fn spec(&self) -> &RecogniserSpec {
        &self.spec
    }

    /// The aligned crops of `faces` as one NCHW batch.
    pub fn align(&self, image: &RgbImage, faces: &[Detection]) -> Tensor {
        let size = self.spec.template.size as usize;
        let per_face = 3 * size * size;
        let mut data = vec![0.0f32; faces.len() * per_face];
        for (face, out) in faces.iter().zip(data.chunks_exact_mut(per_face)) {
            align_into(image, &face.landmarks, &self.spec.template, out);
        }
        Tensor::new(vec![faces.len(), 3, size, size], data)
    }

    /// One embedding per aligned crop of `batch`, in order.
    pub async fn embed(&self, batch: Tensor) -> Result<Vec<Embedding>> {
        let count = batch.shape[0];
        if count == 0 {
            return Ok(Vec::new());
        }

        let outputs = self.engine.infer(Model::Recogniser, batch).await?;
        let (_, raw) = outputs
            .0
            .first()
            .ok_or_else(|| Error::internal("the recogniser gave no output"))?;

        let dimension = self.spec.dimension;
        if raw.data.len() != count * dimension {
            return Err(Error::Internal(format!(
                "the recogniser gave {} values for {count} faces; {dimension} each were expected",
                raw.data.len()
            )));
        }
        Ok(raw.data.chunks_exact(dimension).map(normalised).collect())
    }
}

pub fn normalised(v: &[f32]) -> Embedding {
    let norm = v
        .iter()
        .map(|x| x * x)
        .sum::<f32>()
        .sqrt()
        .max(f32::EPSILON);
    v.iter().map(|x| x / norm).collect()
}

/// Cosine similarity of two unit-length embeddings.
pub fn similarity(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
