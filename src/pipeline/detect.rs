//! RetinaFace (MobileNetV2) face detection: resize and pad the image, run the
//! model, decode its outputs against the prior boxes and keep the best box of
//! each group of overlapping ones.

use std::sync::Arc;

use image::{imageops, RgbImage};

use super::geometry::{Detection, Rect};
use crate::{
    config::DetectorConfig,
    error::{Error, Result},
    ports::inference::{InferenceEngine, Model, Tensor},
};

/// The model's input sides must be multiples of the coarsest stride.
const ALIGN: u32 = 32;
/// Per stride, the two prior sizes in input pixels.
const PRIORS: [(usize, [f32; 2]); 3] =
    [(8, [16.0, 32.0]), (16, [64.0, 128.0]), (32, [256.0, 512.0])];
const CENTRE_VARIANCE: f32 = 0.1;
const SIZE_VARIANCE: f32 = 0.2;

pub struct Detector {
    engine: Arc<dyn InferenceEngine>,
    config: DetectorConfig,
}

/// The image as the model sees it, and how to map back to the original.
pub struct DetectorInput {
    pub tensor: Tensor,
    /// Model-input pixels per original pixel.
    pub scale: f32,
}

impl Detector {
    pub fn new(engine: Arc<dyn InferenceEngine>, config: DetectorConfig) -> Self {
        Detector { engine, config }
    }

    /// Every face above the score threshold, largest first.
    pub async fn detect(&self, image: &RgbImage) -> Result<Vec<Detection>> {
        let input = self.prepare(image);
        let (height, width) = (input.tensor.shape[1], input.tensor.shape[2]);

        let outputs = self.engine.infer(Model::Detector, input.tensor).await?;

        let candidates = decode(
            outputs.get("bbox")?,
            outputs.get("landmarks")?,
            outputs.get("scores")?,
            (width, height),
            self.config.score_threshold,
        )?;
        let mut faces = suppress(candidates, self.config.nms_iou);
        for face in &mut faces {
            unscale(
                face,
                input.scale,
                image.width() as f32,
                image.height() as f32,
            );
        }
        faces.sort_by(|a, b| b.rect.area().total_cmp(&a.rect.area()));
        Ok(faces)
    }

    /// Resizes so the longest side is `longest_side` and pads bottom and right
    /// with zeros to multiples of 32: NHWC, RGB, 0..255.
    pub fn prepare(&self, image: &RgbImage) -> DetectorInput {
        let (width, height) = image.dimensions();
        let scale = self.config.longest_side as f32 / width.max(height) as f32;
        let resized_w = ((width as f32 * scale).round() as u32).clamp(1, self.config.longest_side);
        let resized_h = ((height as f32 * scale).round() as u32).clamp(1, self.config.longest_side);
        let resized = if (resized_w, resized_h) == (width, height) {
            image.clone()
        } else {
            imageops::resize(image, resized_w, resized_h, imageops::FilterType::Triangle)
        };

        let padded_w = resized_w.div_ceil(ALIGN) * ALIGN;
        let padded_h = resized_h.div_ceil(ALIGN) * ALIGN;
        let mut data = vec![0.0f32; (padded_w * padded_h * 3) as usize];
        for (y, row) in resized.rows().enumerate() {
            let start = y * padded_w as usize * 3;
            for (x, pixel) in row.enumerate() {
                let at = start + x * 3;
                data[at] = f32::from(pixel[0]);
                data[at + 1] = f32::from(pixel[1]);
                data[at + 2] = f32::from(pixel[2]);
            }
        }

        DetectorInput {
            tensor: Tensor::new(vec![1, padded_h as usize, padded_w as usize, 3], data),
            scale: resized_w as f32 / width as f32,
        }
    }
}

/// The input shapes a detector with this configuration can produce, for
/// building plans ahead of time: landscape, portrait and square.
pub fn common_input_shapes(config: &DetectorConfig) -> Vec<Vec<usize>> {
    let long = (config.longest_side.div_ceil(ALIGN) * ALIGN) as usize;
    let short = ((config.longest_side * 3 / 4).div_ceil(ALIGN) * ALIGN) as usize;
    vec![
        vec![1, short, long, 3],
        vec![1, long, short, 3],
        vec![1, long, long, 3],
    ]
}

/// Decodes every prior whose face probability reaches `threshold`, in model
/// input pixels.
fn decode(
    boxes: &Tensor,
    landmarks: &Tensor,
    scores: &Tensor,
    (width, height): (usize, usize),
    threshold: f32,
) -> Result<Vec<Detection>> {
    let priors = prior_boxes(width, height);
    let n = priors.len();
    if boxes.data.len() != n * 4 || landmarks.data.len() != n * 10 || scores.data.len() != n * 2 {
        return Err(Error::Internal(format!(
            "the detector gave {} boxes for {n} priors; is it the RetinaFace model?",
            boxes.data.len() / 4
        )));
    }

    let (w, h) = (width as f32, height as f32);
    let mut found = Vec::new();
    for (i, prior) in priors.iter().enumerate() {
        let score = scores.data[i * 2 + 1];
        if score < threshold {
            continue;
        }
        let d = &boxes.data[i * 4..i * 4 + 4];
        let cx = prior.cx + d[0] * CENTRE_VARIANCE * prior.w;
        let cy = prior.cy + d[1] * CENTRE_VARIANCE * prior.h;
        let bw = prior.w * (d[2] * SIZE_VARIANCE).exp();
        let bh = prior.h * (d[3] * SIZE_VARIANCE).exp();
        let l = &landmarks.data[i * 10..i * 10 + 10];
        let point = |k: usize| {
            [
                (prior.cx + l[2 * k] * CENTRE_VARIANCE * prior.w) * w,
                (prior.cy + l[2 * k + 1] * CENTRE_VARIANCE * prior.h) * h,
            ]
        };
        found.push(Detection {
            rect: Rect {
                x1: (cx - bw / 2.0) * w,
                y1: (cy - bh / 2.0) * h,
                x2: (cx + bw / 2.0) * w,
                y2: (cy + bh / 2.0) * h,
            },
            landmarks: [point(0), point(1), point(2), point(3), point(4)],
            score,
        });
    }
    Ok(found)
}

/// A prior (anchor) box: centre and size as fractions of the input.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Prior {
    cx: f32,
    cy: f32,
    w: f32,
    h: f32,
}

/// Priors in the model's output order: stride 8, 16, 32; rows, columns, sizes.
fn prior_boxes(width: usize, height: usize) -> Vec<Prior> {
    let (w, h) = (width as f32, height as f32);
    let mut priors = Vec::new();
    for (stride, sizes) in PRIORS {
        for i in 0..height.div_ceil(stride) {
            for j in 0..width.div_ceil(stride) {
                for size in sizes {
                    priors.push(Prior {
                        cx: (j as f32 + 0.5) * stride as f32 / w,
                        cy: (i as f32 + 0.5) * stride as f32 / h,
                        w: size / w,
                        h: size / h,
                    });
                }
            }
        }
    }
    priors
}

/// Greedy non-maximum suppression: the best-scoring box of each overlapping
/// group survives.
fn suppress(mut candidates: Vec<Detection>, iou: f32) -> Vec<Detection> {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Detection> = Vec::new();
    for candidate in candidates {
        if kept.iter().all(|k| k.rect.iou(&candidate.rect) <= iou) {
            kept.push(candidate);
        }
    }
    kept
}

fn unscale(face: &mut Detection, scale: f32, width: f32, height: f32) {
    let r = face.rect;
    face.rect = Rect {
        x1: r.x1 / scale,
        y1: r.y1 / scale,
        x2: r.x2 / scale,
        y2: r.y2 / scale,
    }
    .clamp_to(width, height);
    for point in &mut face.landmarks {
        point[0] /= scale;
        point[1] /= scale;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prior_count_matches_the_model_output_length() {
        // 640 x 448: (80*56 + 40*28 + 20*14) * 2
        assert_eq!(
            prior_boxes(640, 448).len(),
            (80 * 56 + 40 * 28 + 20 * 14) * 2
        );
    }

    #[test]
    fn first_priors_are_the_two_sizes_of_the_top_left_stride_8_cell() {
        let priors = prior_boxes(64, 64);
        assert_eq!(
            priors[0],
            Prior {
                cx: 4.0 / 64.0,
                cy: 4.0 / 64.0,
                w: 0.25,
                h: 0.25
            }
        );
        assert_eq!(priors[1].w, 0.5);
        assert_eq!(priors[2].cx, 12.0 / 64.0);
    }

    #[test]
    fn suppression_keeps_the_best_of_overlapping_boxes_and_distinct_ones() {
        let face = |x: f32, score: f32| Detection {
            rect: Rect {
                x1: x,
                y1: 0.0,
                x2: x + 10.0,
                y2: 10.0,
            },
            landmarks: [[0.0; 2]; 5],
            score,
        };
        let kept = suppress(vec![face(0.0, 0.8), face(1.0, 0.95), face(50.0, 0.7)], 0.4);
        assert_eq!(
            kept.iter().map(|f| f.score).collect::<Vec<_>>(),
            vec![0.95, 0.7]
        );
    }
}
