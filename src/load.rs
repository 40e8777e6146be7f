//! load stage: reads a photo file into an RGB image as a person sees it (EXIF orientation
//! applied), with its capture date, refusing over-large images before decoding them.
//!
//! Takes a path; gives a [`Photo`]. The format comes from the file's content, not its
//! extension, so a JPEG named `.png` still loads.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

use crate::definitions::Rgb;
use crate::error::{Error, Result};

/// Options of the load stage.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Largest accepted photo, in pixels (width × height). Default: 100 megapixels.
    pub max_pixels: u64,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            max_pixels: 100_000_000,
        }
    }
}

/// Where a capture date came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateSource {
    Exif,
    FileName,
    /// Given in a series file (or a batch manifest), overriding the photo's own.
    SeriesFile,
    None,
}

impl DateSource {
    /// The report's spelling: `exif`, `file_name`, `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            DateSource::Exif => "exif",
            DateSource::FileName => "file_name",
            DateSource::SeriesFile => "series_file",
            DateSource::None => "none",
        }
    }
}

/// A decoded photo, oriented as a person sees it.
#[derive(Clone, Debug)]
pub struct Photo {
    pub image: Rgb,
    pub path: PathBuf,
    /// File name only: reports carry names, not absolute paths.
    pub name: String,
    pub date: Option<NaiveDate>,
    pub date_source: DateSource,
}

/// Loads a photo: JPEG, PNG, TIFF or WebP, any bit depth or colour type, converted to 8-bit RGB.
///
/// # Errors
/// [`Error::Load`] naming the file and the reason: missing, a directory, unreadable, empty,
/// not an image, corrupt or truncated, or larger than `opts.max_pixels`.
pub fn load_photo(path: &Path, opts: &LoadOptions) -> Result<Photo> {
    let fail = |reason: String| Error::Load {
        path: path.to_path_buf(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| fail(io_reason(&e)))?;
    if meta.is_dir() {
        return Err(fail("is a directory, expected a photo file".into()));
    }
    if !meta.is_file() {
        // A FIFO or device would block or stream forever: refuse anything but a regular file.
        return Err(fail("not a regular file, expected a photo file".into()));
    }
    let bytes = std::fs::read(path).map_err(|e| fail(io_reason(&e)))?;
    photo_from_bytes(&bytes, path, opts)
}

/// Loads a photo from its bytes, as [`load_photo`] does after reading the file; `name` stands
/// for the file in the [`Photo`] and in errors (fuzzing and callers without files use this).
///
/// # Errors
/// [`Error::Load`] naming `name` and the reason: empty, not an image, corrupt or truncated,
/// too small, or larger than `opts.max_pixels`.
pub fn load_photo_bytes(bytes: &[u8], name: &str, opts: &LoadOptions) -> Result<Photo> {
    photo_from_bytes(bytes, Path::new(name), opts)
}

fn photo_from_bytes(bytes: &[u8], path: &Path, opts: &LoadOptions) -> Result<Photo> {
    let fail = |reason: String| Error::Load {
        path: path.to_path_buf(),
        reason,
    };
    if bytes.is_empty() {
        return Err(fail("empty file (0 bytes)".into()));
    }
    // Decoders may put newlines in their messages; an error is one line.
    let (image, exif) = decode(bytes, opts).map_err(|reason| fail(one_line(&reason)))?;
    let name = file_name(path);
    let exif_date = exif.as_deref().and_then(exif_capture_date);
    let (date, date_source) = match (exif_date, date_in_name(&name)) {
        (Some(d), _) => (Some(d), DateSource::Exif),
        (None, Some(d)) => (Some(d), DateSource::FileName),
        (None, None) => (None, DateSource::None),
    };
    Ok(Photo {
        image,
        path: path.to_path_buf(),
        name,
        date,
        date_source,
    })
}

/// Decodes in memory; returns the oriented RGB image and the raw EXIF chunk, if any.
fn decode(bytes: &[u8], opts: &LoadOptions) -> std::result::Result<(Rgb, Option<Vec<u8>>), String> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| format!("cannot read: {e}"))?;
    let Some(format) = reader.format() else {
        return Err("not a recognised image format (expected JPEG, PNG, TIFF or WebP)".into());
    };
    if format == ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        // Decoders pad a cut-off JPEG with grey and report success: refuse it here instead
        // of measuring a half-grey photo.
        return Err("truncated JPEG (no end-of-image marker after the last scan)".into());
    }
    let mut reader = reader;
    // The decoder allocates from the header's dimensions: bound the allocation before decoding
    // so a decompression bomb is refused instead of exhausting memory.
    let mut limits = Limits::default();
    limits.max_alloc = Some(opts.max_pixels.saturating_mul(8).max(64 << 20));
    reader.limits(limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| format!("cannot decode {}: {e}", format_name(format)))?;
    let (width, height) = decoder.dimensions();
    let pixels = width as u64 * height as u64;
    if pixels > opts.max_pixels {
        return Err(format!(
            "image is {width}×{height} ({:.1} megapixels), over the limit of {:.1} megapixels",
            pixels as f64 / 1e6,
            opts.max_pixels as f64 / 1e6
        ));
    }
    if width < 16 || height < 16 {
        return Err(format!(
            "image is {width}×{height} pixels, too small to measure (min 16×16)"
        ));
    }
    let exif = decoder.exif_metadata().ok().flatten();
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder)
        .map_err(|e| format!("corrupt or truncated {} data: {e}", format_name(format)))?;
    image.apply_orientation(orientation);
    Ok((image.to_rgb8(), exif))
}

/// `text` with every run of whitespace (newlines included) as one space.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The usual spelling of a format in messages.
fn format_name(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Jpeg => "JPEG",
        ImageFormat::Png => "PNG",
        ImageFormat::Tiff => "TIFF",
        ImageFormat::WebP => "WebP",
        _ => "image",
    }
}

/// A complete JPEG has an end-of-image marker (FF D9) after its last start-of-scan (FF DA).
/// Entropy-coded data byte-stuffs every FF, so the pair cannot occur by chance inside a scan;
/// an EXIF thumbnail's own markers come before the main image's scans.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let last_scan = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    let last_end = bytes.windows(2).rposition(|w| w == [0xFF, 0xD9]);
    matches!((last_scan, last_end), (Some(s), Some(e)) if e > s)
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// The file name of `path`, lossily converted to text.
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// EXIF DateTimeOriginal (else DateTime) as a date.
fn exif_capture_date(raw: &[u8]) -> Option<NaiveDate> {
    let exif = exif::Reader::new().read_raw(raw.to_vec()).ok()?;
    [exif::Tag::DateTimeOriginal, exif::Tag::DateTime]
        .iter()
        .find_map(|tag| {
            let field = exif.get_field(*tag, exif::In::PRIMARY)?;
            match &field.value {
                exif::Value::Ascii(parts) => {
                    let text = String::from_utf8_lossy(parts.first()?);
                    // EXIF writes "YYYY:MM:DD HH:MM:SS".
                    NaiveDate::parse_from_str(text.get(..10)?, "%Y:%m:%d").ok()
                }
                _ => None,
            }
        })
}

/// The first valid `YYYY-MM-DD` (or `YYYY_MM_DD`, `YYYYMMDD`) found in a file name.
pub fn date_in_name(name: &str) -> Option<NaiveDate> {
    let bytes = name.as_bytes();
    let digit = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_digit);
    for start in 0..bytes.len() {
        // Do not start inside a longer run of digits.
        if start > 0 && digit(start - 1) {
            continue;
        }
        if !(0..4).all(|k| digit(start + k)) {
            continue;
        }
        let candidates = [(10, "%Y-%m-%d"), (10, "%Y_%m_%d"), (8, "%Y%m%d")];
        for (len, fmt) in candidates {
            if let Some(text) = name.get(start..start + len)
                && !digit(start + len)
                && let Ok(date) = NaiveDate::parse_from_str(text, fmt)
            {
                return Some(date);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_file_names() {
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd);
        assert_eq!(date_in_name("2026-01-05_s0.jpg"), d(2026, 1, 5));
        assert_eq!(date_in_name("cheek_2025_12_31.png"), d(2025, 12, 31));
        assert_eq!(date_in_name("IMG_20240229_1200.jpg"), d(2024, 2, 29));
        assert_eq!(date_in_name("IMG_1234.jpg"), None);
        assert_eq!(date_in_name("2026-13-40.jpg"), None);
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in bytes {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn refuses_over_large_before_decoding() {
        // A valid PNG header declaring 20000×20000 pixels with no pixel data.
        let mut img = image::RgbImage::new(32, 32);
        img.put_pixel(0, 0, image::Rgb([1, 2, 3]));
        let mut png = Vec::new();
        img.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        // Patch IHDR width/height (bytes 16..24) and its CRC: a valid header over no data.
        png[16..20].copy_from_slice(&20000u32.to_be_bytes());
        png[20..24].copy_from_slice(&20000u32.to_be_bytes());
        let crc = crc32(&png[12..29]);
        png[29..33].copy_from_slice(&crc.to_be_bytes());
        let opts = LoadOptions {
            max_pixels: 1_000_000,
        };
        let err = decode(&png, &opts).unwrap_err();
        assert!(err.contains("over the limit"), "{err}");
    }

    #[test]
    fn refuses_truncated_jpeg() {
        let img =
            image::RgbImage::from_fn(64, 64, |x, y| image::Rgb([x as u8 * 3, y as u8 * 3, 90]));
        let mut jpeg = Vec::new();
        img.write_to(&mut Cursor::new(&mut jpeg), ImageFormat::Jpeg)
            .unwrap();
        assert!(decode(&jpeg, &LoadOptions::default()).is_ok());
        let cut = &jpeg[..jpeg.len() - 40];
        let err = decode(cut, &LoadOptions::default()).unwrap_err();
        assert!(err.contains("truncated JPEG"), "{err}");
    }

    #[test]
    fn decodes_png_and_applies_nothing_without_exif() {
        let mut img = image::RgbImage::new(40, 20);
        img.put_pixel(39, 0, image::Rgb([200, 10, 10]));
        let mut png = Vec::new();
        img.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let (rgb, exif) = decode(&png, &LoadOptions::default()).unwrap();
        assert_eq!(rgb.dimensions(), (40, 20));
        assert_eq!(rgb.get_pixel(39, 0).0, [200, 10, 10]);
        assert!(exif.is_none());
    }

    #[test]
    fn bytes_load_like_files_and_errors_name_the_given_name() {
        let img = image::RgbImage::from_fn(32, 24, |x, _| image::Rgb([x as u8 * 8, 100, 50]));
        let mut png = Vec::new();
        img.write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .unwrap();
        let photo =
            load_photo_bytes(&png, "2026-03-01_cheek.jpg", &LoadOptions::default()).unwrap();
        assert_eq!(photo.image.as_raw(), img.as_raw());
        assert_eq!(photo.name, "2026-03-01_cheek.jpg");
        assert_eq!(photo.date, NaiveDate::from_ymd_opt(2026, 3, 1));
        let err = load_photo_bytes(&[], "a.jpg", &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert_eq!(err, "a.jpg: cannot load photo: empty file (0 bytes)");
        let err = load_photo_bytes(&png[..60], "b.png", &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("b.png: cannot load photo: corrupt or truncated PNG data"),
            "{err}"
        );
    }

    #[test]
    fn decoder_messages_become_one_line() {
        // Found by the load_photo fuzz target: zune-jpeg's message ends in a newline.
        let bytes = include_bytes!("../tests/data/fuzz/jpeg_multiline_error.jpg");
        let err = load_photo_bytes(bytes, "f.jpg", &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(!err.contains('\n'), "{err:?}");
        assert!(
            err.starts_with("f.jpg: cannot load photo: cannot decode JPEG:"),
            "{err}"
        );
    }
}
