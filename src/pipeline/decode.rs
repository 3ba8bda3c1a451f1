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
/// truncated upload is caught here: the last start-of-scan marker must be
/// followed by an end-of-image marker. (Scan data escapes 0xFF, so neither
/// marker can appear inside it; an EXIF thumbnail's markers come before the
/// main image's scans.)
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let last = |marker: u8| bytes.windows(2).rposition(|w| w == [0xFF, marker]);
    match (last(0xDA), last(0xD9)) {
        (Some(scan), Some(end)) => end > scan,
        _ => false,
    }
}

fn refusal(error: ImageError) -> Error {
    match error {
        ImageError::Limits(e) => Error::bad_image(Reason::ImageTooLarge, e.to_string()),
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

    #[test]
    fn a_jpeg_is_complete_only_with_an_end_marker_after_its_last_scan() {
        assert!(jpeg_is_complete(&[
            0xFF, 0xD8, 0xFF, 0xDA, 1, 2, 0xFF, 0xD9
        ]));
        assert!(!jpeg_is_complete(&[0xFF, 0xD8, 0xFF, 0xDA, 1, 2, 3]));
        // A thumbnail's end marker before the main scan does not count.
        assert!(!jpeg_is_complete(&[
            0xFF, 0xD8, 0xFF, 0xD9, 0xFF, 0xDA, 1, 2
        ]));
    }
}
