//! Turns the bytes a caller sent into upright RGB pixels, refusing oversized
//! images before their pixels are allocated.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, RgbImage};

use crate::{
    config::ImageLimits,
    error::{Error, Reason, Result},
};

const ACCEPTED: &[ImageFormat] = &[
    ImageFormat::Jpeg,
    ImageFormat::Png,
    ImageFormat::WebP,
    ImageFormat::Bmp,
];

/// Decodes JPEG, PNG, WebP or BMP bytes, applies the EXIF orientation and
/// converts grey, grey-alpha and RGBA images to RGB.
pub fn decode(bytes: &[u8], limits: &ImageLimits) -> Result<RgbImage> {
    if bytes.is_empty() {
        return Err(Error::bad_image(Reason::EmptyImage, "the image is empty"));
    }
    if bytes.len() > limits.max_bytes {
        return Err(Error::bad_image(
            Reason::ImageTooLarge,
            format!(
                "the image has {} bytes; at most {} are accepted",
                bytes.len(),
                limits.max_bytes
            ),
        ));
    }

    let format = image::guess_format(bytes)
        .ok()
        .filter(|f| ACCEPTED.contains(f))
        .ok_or_else(|| {
            Error::bad_image(
                Reason::UnsupportedImage,
                "the bytes are not a JPEG, PNG, WebP or BMP image",
            )
        })?;
    if format == ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        return Err(Error::bad_image(
            Reason::CorruptImage,
            "the JPEG image is truncated: its last scan has no end-of-image marker",
        ));
    }
    let mut decoder = ImageReader::with_format(Cursor::new(bytes), format)
        .into_decoder()
        .map_err(refusal)?;

    let (width, height) = decoder.dimensions();
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels {
        return Err(Error::bad_image(
            Reason::ImageTooLarge,
            format!(
                "the image is {width}x{height} ({pixels} pixels); at most {} pixels are accepted",
                limits.max_pixels
            ),
        ));
    }
    if pixels == 0 {
        return Err(Error::bad_image(
            Reason::CorruptImage,
            "the image has no pixels",
        ));
    }
    // High bit depths take 8 or 16 bytes a pixel: a few hundred kilobytes of
    // 16-bit RGBA near the pixel limit would decode into hundreds of
    // megabytes. The decoder gets at most 4 bytes (8-bit RGBA) per allowed pixel.
    let budget = limits.max_pixels.saturating_mul(4);
    if decoder.total_bytes() > budget {
        return Err(Error::bad_image(
            Reason::ImageTooLarge,
            format!(
                "the image is {width}x{height} at {} bytes a pixel; decoding it would take {} MB, more than the {} MB allowed",
                decoder.color_type().bytes_per_pixel(),
                decoder.total_bytes() / 1_000_000,
                budget / 1_000_000
            ),
        ));
    }

    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(refusal)?;
    image.apply_orientation(orientation);
    Ok(image.into_rgb8())
}

/// Packed RGB8 pixels as a video decoder hands them over.
pub fn raw_rgb(
    rgb: bytes::Bytes,
    width: u32,
    height: u32,
    limits: &ImageLimits,
) -> Result<RgbImage> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels == 0 {
        return Err(Error::invalid("raw", "width and height must be positive"));
    }
    if pixels > limits.max_pixels {
        return Err(Error::bad_image(
            Reason::ImageTooLarge,
            format!(
                "the frame has {pixels} pixels; at most {} are accepted",
                limits.max_pixels
            ),
        ));
    }
    if rgb.len() as u64 != pixels * 3 {
        return Err(Error::invalid(
            "raw.rgb",
            format!(
                "a {width}x{height} RGB8 frame has {} bytes, not {}",
                pixels * 3,
                rgb.len()
            ),
        ));
    }
    RgbImage::from_raw(width, height, rgb.to_vec())
        .ok_or_else(|| Error::internal("the frame size was checked"))
}

/// The JPEG decoder fills a missing tail with grey instead of failing, so a
/// truncated upload is caught here by walking the JPEG's segments from the
/// start: a complete image reaches its end-of-image marker. Segments are
/// skipped by their length (so an EXIF thumbnail's markers are never seen),
/// entropy-coded scan data up to the next real marker (0xFF escapes inside it
/// are 0xFF00, restart markers 0xFFD0 to 0xFFD7), and whatever follows the end
/// marker (phones append videos) is ignored.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    const SOI: u8 = 0xD8;
    const EOI: u8 = 0xD9;
    const SOS: u8 = 0xDA;

    let mut at = 2; // after the start-of-image marker
    loop {
        // Fill bytes (0xFF) may precede a marker.
        while bytes.get(at) == Some(&0xFF) && bytes.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        let (Some(&0xFF), Some(&marker)) = (bytes.get(at), bytes.get(at + 1)) else {
            return false;
        };
        at += 2;
        match marker {
            EOI => return true,
            SOI | 0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let Some(length) = bytes
            .get(at..at + 2)
            .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))
        else {
            return false;
        };
        at += length;
        if marker == SOS {
            // Scan data runs to the next marker that is not an escape or a restart.
            loop {
                match (bytes.get(at), bytes.get(at + 1)) {
                    (Some(0xFF), Some(0x00 | 0xD0..=0xD7)) => at += 2,
                    (Some(0xFF), Some(_)) => break,
                    (Some(_), _) => at += 1,
                    (None, _) => return false,
                }
            }
        }
    }
}

fn refusal(error: ImageError) -> Error {
    match error {
        ImageError::Limits(e) => Error::bad_image(
            Reason::ImageTooLarge,
            format!("decoding the image would take too much memory (its size or bit depth is too large): {e}"),
        ),
        ImageError::Unsupported(e) => Error::bad_image(Reason::UnsupportedImage, e.to_string()),
        ImageError::Decoding(e) => Error::bad_image(
            Reason::CorruptImage,
            format!("the image cannot be decoded: {e}"),
        ),
        ImageError::IoError(e) => Error::bad_image(
            Reason::CorruptImage,
            format!("the image is truncated or corrupt: {e}"),
        ),
        ImageError::Parameter(e) => Error::bad_image(Reason::CorruptImage, e.to_string()),
        ImageError::Encoding(e) => Error::internal(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SOI, an APP1 segment holding a thumbnail's markers, SOS with its
    /// header and scan data (an escaped 0xFF and a restart marker), EOI.
    fn jpeg_with_thumbnail_and_scan() -> Vec<u8> {
        let mut jpeg = vec![0xFF, 0xD8];
        jpeg.extend_from_slice(&[0xFF, 0xE1, 0x00, 0x08, 0xFF, 0xD8, 0xFF, 0xDA, 0xFF, 0xD9]);
        jpeg.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x04, 0x01, 0x02]);
        jpeg.extend_from_slice(&[0x10, 0xFF, 0x00, 0x20, 0xFF, 0xD0, 0x30]);
        jpeg.extend_from_slice(&[0xFF, 0xD9]);
        jpeg
    }

    #[test]
    fn a_jpeg_is_complete_when_its_segments_reach_the_end_marker() {
        let jpeg = jpeg_with_thumbnail_and_scan();
        assert!(jpeg_is_complete(&jpeg));

        let mut with_trailer = jpeg.clone();
        with_trailer.extend_from_slice(b"appended video bytes \xff\xda");
        assert!(
            jpeg_is_complete(&with_trailer),
            "data after the end marker is ignored"
        );
    }

    #[test]
    fn a_truncated_jpeg_is_incomplete_wherever_it_is_cut() {
        let jpeg = jpeg_with_thumbnail_and_scan();
        for cut in 2..jpeg.len() - 1 {
            assert!(!jpeg_is_complete(&jpeg[..cut]), "cut at {cut}");
        }
    }
}
