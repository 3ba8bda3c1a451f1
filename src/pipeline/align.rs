//! Face alignment: a least-squares similarity transform (rotation, uniform
//! scale, translation) takes the five detected landmarks onto the recogniser's
//! template, and the crop is sampled bilinearly through it.

use image::RgbImage;

use super::geometry::Point;

/// Where the recogniser expects the five landmarks, in crop pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Template {
    pub size: u32,
    pub points: [Point; 5],
}

/// dlib's ResNet recogniser: a 150 x 150 crop.
pub const DLIB_TEMPLATE: Template = Template {
    size: 150,
    points: [
        [47.55, 46.60],
        [100.48, 46.60],
        [74.01, 76.56],
        [50.41, 103.02],
        [97.61, 103.02],
    ],
};

/// `destination = [[a, -b], [b, a]] * source + [tx, ty]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    pub a: f32,
    pub b: f32,
    pub tx: f32,
    pub ty: f32,
}

impl Similarity {
    /// The closed-form least-squares fit (Umeyama's method in two dimensions,
    /// where no reflection can be introduced).
    pub fn fit(source: &[Point; 5], destination: &[Point; 5]) -> Similarity {
        let mean = |points: &[Point; 5]| {
            let sum = points
                .iter()
                .fold([0.0f32; 2], |acc, p| [acc[0] + p[0], acc[1] + p[1]]);
            [sum[0] / 5.0, sum[1] / 5.0]
        };
        let (ms, md) = (mean(source), mean(destination));

        let (mut dot, mut cross, mut norm) = (0.0f32, 0.0f32, 0.0f32);
        for (s, d) in source.iter().zip(destination) {
            let (sx, sy) = (s[0] - ms[0], s[1] - ms[1]);
            let (dx, dy) = (d[0] - md[0], d[1] - md[1]);
            dot += sx * dx + sy * dy;
            cross += sx * dy - sy * dx;
            norm += sx * sx + sy * sy;
        }
        let norm = norm.max(f32::EPSILON);
        let (a, b) = (dot / norm, cross / norm);

        Similarity {
            a,
            b,
            tx: md[0] - (a * ms[0] - b * ms[1]),
            ty: md[1] - (b * ms[0] + a * ms[1]),
        }
    }

    pub fn apply(&self, p: Point) -> Point {
        [
            self.a * p[0] - self.b * p[1] + self.tx,
            self.b * p[0] + self.a * p[1] + self.ty,
        ]
    }

    pub fn inverse(&self) -> Similarity {
        let det = (self.a * self.a + self.b * self.b).max(f32::EPSILON);
        let (a, b) = (self.a / det, -self.b / det);
        Similarity {
            a,
            b,
            tx: -(a * self.tx - b * self.ty),
            ty: -(b * self.tx + a * self.ty),
        }
    }
}

/// The aligned crop as planar RGB (`3 x size x size`), values 0..255: what the
/// recogniser takes, written straight into `out`.
pub fn align_into(image: &RgbImage, landmarks: &[Point; 5], template: &Template, out: &mut [f32]) {
    let size = template.size as usize;
    debug_assert_eq!(out.len(), 3 * size * size);

    // Landmarks are continuous coordinates (pixel centres at +0.5); the
    // template and the sampler use pixel indices.
    let source = landmarks.map(|p| [p[0] - 0.5, p[1] - 0.5]);
    let to_image = Similarity::fit(&source, &template.points).inverse();

    let plane = size * size;
    for v in 0..size {
        for u in 0..size {
            let [x, y] = to_image.apply([u as f32, v as f32]);
            let rgb = bilinear(image, x, y);
            let at = v * size + u;
            out[at] = rgb[0];
            out[plane + at] = rgb[1];
            out[2 * plane + at] = rgb[2];
        }
    }
}

/// Bilinear sample at pixel-index coordinates; outside the image reads black.
fn bilinear(image: &RgbImage, x: f32, y: f32) -> [f32; 3] {
    let (w, h) = (image.width() as i64, image.height() as i64);
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (x0, y0) = (x0 as i64, y0 as i64);

    let pixel = |px: i64, py: i64| -> [f32; 3] {
        if px < 0 || py < 0 || px >= w || py >= h {
            return [0.0; 3];
        }
        let p = image.get_pixel(px as u32, py as u32);
        [f32::from(p[0]), f32::from(p[1]), f32::from(p[2])]
    };

    let (p00, p10, p01, p11) = (
        pixel(x0, y0),
        pixel(x0 + 1, y0),
        pixel(x0, y0 + 1),
        pixel(x0 + 1, y0 + 1),
    );
    std::array::from_fn(|c| {
        let top = p00[c] + (p10[c] - p00[c]) * fx;
        let bottom = p01[c] + (p11[c] - p01[c]) * fx;
        top + (bottom - top) * fy
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_recovers_a_known_rotation_scale_and_shift() {
        let truth = Similarity {
            a: 0.8,
            b: 0.6,
            tx: 12.0,
            ty: -3.0,
        };
        let source = [
            [10.0, 20.0],
            [50.0, 22.0],
            [30.0, 40.0],
            [15.0, 60.0],
            [45.0, 61.0],
        ];
        let destination = source.map(|p| truth.apply(p));

        let fitted = Similarity::fit(&source, &destination);

        for (got, want) in [fitted.a, fitted.b, fitted.tx, fitted.ty]
            .iter()
            .zip([0.8, 0.6, 12.0, -3.0])
        {
            assert!((got - want).abs() < 1e-3, "{fitted:?}");
        }
    }

    #[test]
    fn inverse_undoes_the_transform() {
        let t = Similarity {
            a: 1.2,
            b: -0.4,
            tx: 5.0,
            ty: 7.0,
        };
        let p = t.inverse().apply(t.apply([3.0, -9.0]));
        assert!((p[0] - 3.0).abs() < 1e-4 && (p[1] + 9.0).abs() < 1e-4);
    }

    #[test]
    fn aligning_landmarks_already_on_the_template_copies_the_pixels() {
        let image = RgbImage::from_fn(150, 150, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let landmarks = DLIB_TEMPLATE.points.map(|p| [p[0] + 0.5, p[1] + 0.5]);
        let mut out = vec![0.0; 3 * 150 * 150];

        align_into(&image, &landmarks, &DLIB_TEMPLATE, &mut out);

        assert!((out[40 * 150 + 30] - 30.0).abs() < 1e-2);
        assert!((out[150 * 150 + 40 * 150 + 30] - 40.0).abs() < 1e-2);
        assert!((out[2 * 150 * 150] - 7.0).abs() < 1e-2);
    }
}
