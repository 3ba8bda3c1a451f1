//! The face pipeline: decode, detect, gate, align, embed. It is written once
//! and knows nothing of the backends; models run through the inference port.

pub mod align;
pub mod decode;
pub mod detect;
pub mod geometry;
pub mod recognise;
pub mod track;

use std::{sync::Arc, time::Instant};

use image::RgbImage;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use self::{detect::Detector, recognise::Recogniser};
pub use self::{
    geometry::{Detection, Rect},
    recognise::{similarity, Embedding, RecogniserSpec},
};
use crate::{
    config::{Config, ImageLimits, QualityConfig},
    error::{Reason, Refusal, Result},
    ports::inference::{InferenceEngine, Tensor},
};

/// A detected face with its embedding.
#[derive(Debug, Clone)]
pub struct EmbeddedFace {
    pub detection: Detection,
    pub embedding: Embedding,
}

/// Decoded pixels, holding their place among the images in flight.
pub struct Decoded {
    image: RgbImage,
    _slot: OwnedSemaphorePermit,
}

impl std::ops::Deref for Decoded {
    type Target = RgbImage;

    fn deref(&self) -> &RgbImage {
        &self.image
    }
}

/// The image of a video frame.
#[derive(Debug, Clone)]
pub enum FrameImage {
    Encoded(bytes::Bytes),
    /// Packed RGB8 pixels, row by row.
    Raw {
        rgb: bytes::Bytes,
        width: u32,
        height: u32,
    },
}

/// Which faces of an image to embed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// Every face, largest first, at most this many (0: all).
    All { max_faces: usize },
    /// The largest face only; none when the image has no face.
    Largest,
}

/// Seconds spent in each stage of one image, for the benchmark.
#[derive(Debug, Clone, Copy, Default)]
pub struct StageTimes {
    pub decode: f64,
    pub detect: f64,
    pub align: f64,
    pub embed: f64,
}

pub struct Pipeline {
    limits: ImageLimits,
    /// Decoding a small file can take hundreds of megabytes (a 16-bit RGBA
    /// PNG at the pixel limit); at most this many decode at once.
    decode_permits: Arc<Semaphore>,
    /// Every decoded image (up to `max_pixels` x 3 bytes) holds one of these
    /// until it is dropped, which bounds the memory of requests in flight.
    images_in_flight: Arc<Semaphore>,
    quality: QualityConfig,
    detector: Detector,
    recogniser: Recogniser,
    engine: Arc<dyn InferenceEngine>,
}

impl Pipeline {
    pub fn new(config: &Config, engine: Arc<dyn InferenceEngine>, spec: RecogniserSpec) -> Self {
        Pipeline {
            limits: config.images,
            decode_permits: Arc::new(Semaphore::new(config.inference_concurrency())),
            images_in_flight: Arc::new(Semaphore::new(config.images_in_flight())),
            quality: config.quality,
            detector: Detector::new(Arc::clone(&engine), config.detector),
            recogniser: Recogniser::new(Arc::clone(&engine), spec),
            engine,
        }
    }

    /// The engine that runs the models.
    pub fn engine(&self) -> &Arc<dyn InferenceEngine> {
        &self.engine
    }

    pub fn recogniser(&self) -> &RecogniserSpec {
        self.recogniser.spec()
    }

    /// Decoding is CPU work proportional to the image; it runs on the blocking
    /// pool like inference.
    pub async fn decode(&self, bytes: bytes::Bytes) -> Result<Decoded> {
        let slot = self.reserve().await?;
        let limits = self.limits;
        let permit = Arc::clone(&self.decode_permits)
            .acquire_owned()
            .await
            .map_err(crate::error::Error::internal)?;
        let image = tokio::task::spawn_blocking(move || {
            let decoded = decode::decode(&bytes, &limits);
            drop(permit);
            decoded
        })
        .await
        .map_err(crate::error::Error::internal)??;
        Ok(Decoded { image, _slot: slot })
    }

    /// A video frame's pixels: decoded like a photo, or taken as they are.
    pub async fn frame_pixels(&self, frame: FrameImage) -> Result<Decoded> {
        match frame {
            FrameImage::Encoded(bytes) => self.decode(bytes).await,
            FrameImage::Raw { rgb, width, height } => {
                let slot = self.reserve().await?;
                let image = decode::raw_rgb(rgb, width, height, &self.limits)?;
                Ok(Decoded { image, _slot: slot })
            }
        }
    }

    /// Waits for room for one more decoded image in memory.
    async fn reserve(&self) -> Result<OwnedSemaphorePermit> {
        Arc::clone(&self.images_in_flight)
            .acquire_owned()
            .await
            .map_err(crate::error::Error::internal)
    }

    pub async fn detect(&self, image: &RgbImage) -> Result<Vec<Detection>> {
        self.detector.detect(image).await
    }

    /// Detects the faces of `image` and embeds the selected ones in one batch.
    pub async fn embed_faces(
        &self,
        image: &RgbImage,
        selection: Selection,
    ) -> Result<Vec<EmbeddedFace>> {
        let mut faces = self.detect(image).await?;
        match selection {
            Selection::All { max_faces } if max_faces > 0 => faces.truncate(max_faces),
            Selection::All { .. } => {}
            Selection::Largest => faces.truncate(1),
        }
        self.embed(image, faces).await
    }

    /// The aligned crops of `faces`, as one recogniser input batch.
    pub fn aligned_batch(&self, image: &RgbImage, faces: &[Detection]) -> Tensor {
        self.recogniser.align(image, faces)
    }

    pub async fn embed(
        &self,
        image: &RgbImage,
        faces: Vec<Detection>,
    ) -> Result<Vec<EmbeddedFace>> {
        let batch = self.aligned_batch(image, &faces);
        let embeddings = self.recogniser.embed(batch).await?;
        Ok(faces
            .into_iter()
            .zip(embeddings)
            .map(|(detection, embedding)| EmbeddedFace {
                detection,
                embedding,
            })
            .collect())
    }

    /// Refuses a face too small or too uncertain to be registered.
    pub fn check_quality(&self, face: &Detection) -> Result<(), Refusal> {
        let side = face.rect.width().min(face.rect.height());
        if side < self.quality.min_face_size {
            return Err(Refusal::new(
                Reason::FaceTooSmall,
                format!(
                    "the face is {side:.0} pixels across; at least {:.0} are needed",
                    self.quality.min_face_size
                ),
            ));
        }
        if face.score < self.quality.min_detection_score {
            return Err(Refusal::new(
                Reason::LowQualityFace,
                format!(
                    "the detector is only {:.2} sure this is a face; at least {:.2} is needed",
                    face.score, self.quality.min_detection_score
                ),
            ));
        }
        Ok(())
    }

    /// Runs every stage on one image and reports how long each took.
    pub async fn time_stages(&self, bytes: bytes::Bytes) -> Result<(StageTimes, usize)> {
        let mut times = StageTimes::default();

        let started = Instant::now();
        let image = self.decode(bytes).await?;
        times.decode = started.elapsed().as_secs_f64();

        let started = Instant::now();
        let faces = self.detect(&image).await?;
        times.detect = started.elapsed().as_secs_f64();

        let started = Instant::now();
        let batch = self.aligned_batch(&image, &faces);
        times.align = started.elapsed().as_secs_f64();

        let started = Instant::now();
        self.recogniser.embed(batch).await?;
        times.embed = started.elapsed().as_secs_f64();
        Ok((times, faces.len()))
    }
}
