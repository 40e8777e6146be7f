//! Segmentation throughput of skintrack's own segment path (tract), for bench/segment/.
//!
//! Segments a deterministic WIDTH×HEIGHT image that is already at the model's working scale,
//! so the model sees exactly WIDTH×HEIGHT pixels, and prints one JSON line: milliseconds per
//! megapixel of working resolution (median and best of the timed runs) for the whole segment
//! stage (tiles, network, blending, argmax), with THREADS rayon workers.
//!
//! Usage: segbench [--model PATH] [--threads N] [--size WxH] [--reps N]
//! Not a test: timings vary with the machine and its load.

use std::path::PathBuf;
use std::time::Instant;

use skintrack::definitions::Rgb;
use skintrack::segment::Model;

fn main() {
    if let Err(e) = run() {
        eprintln!("segbench: error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let mut model_path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/skinseg-v1.onnx");
    let (mut threads, mut reps, mut size) = (2usize, 5usize, (1600u32, 1200u32));
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--model" => model_path = PathBuf::from(&value),
            "--threads" => threads = value.parse().map_err(|e| bad(&e))?,
            "--reps" => reps = value.parse().map_err(|e| bad(&e))?,
            "--size" => {
                let (w, h) = value.split_once('x').ok_or(bad(&"expected WxH"))?;
                size = (
                    w.parse().map_err(|e| bad(&e))?,
                    h.parse().map_err(|e| bad(&e))?,
                );
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build_global()
        .map_err(|e| e.to_string())?;
    let t = Instant::now();
    let model = Model::load(&model_path).map_err(|e| e.to_string())?;
    let load_ms = t.elapsed().as_secs_f64() * 1e3;
    // At the model's own px/mm the working image is the input image, pixel for pixel.
    let px_per_mm = model.manifest.working_scale.px_per_mm;
    let image = pattern(size.0, size.1);
    let mp = size.0 as f64 * size.1 as f64 / 1e6;
    let mut times = Vec::new();
    for i in 0..=reps.max(1) {
        let t = Instant::now();
        let seg = model
            .segment(&image, px_per_mm, "bench")
            .map_err(|e| e.to_string())?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        if seg.working_size != size {
            return Err(format!(
                "working size {:?}, expected {size:?}",
                seg.working_size
            ));
        }
        // The first run warms caches and allocator: not timed.
        if i > 0 {
            times.push(ms / mp);
        }
    }
    times.sort_by(f64::total_cmp);
    // The network alone on one thread: tiles of the manifest's size, one after the other.
    let tile = model.tile_size() as u32;
    let crop = image::imageops::crop_imm(&image, 0, 0, tile, tile).to_image();
    let mut tile_ms = Vec::new();
    for i in 0..=reps.max(1) {
        let t = Instant::now();
        model.logits_for_tile(&crop)?;
        if i > 0 {
            tile_ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    tile_ms.sort_by(f64::total_cmp);
    println!(
        "{{\"runtime\":\"tract\",\"threads\":{threads},\"width\":{},\"height\":{},\"tile\":{},\"overlap\":{},\"runs\":{},\"ms_per_mp_median\":{:.1},\"ms_per_mp_best\":{:.1},\"load_ms\":{load_ms:.0},\"net_1thread_ms_per_tile\":{:.1}}}",
        size.0,
        size.1,
        model.tile_size(),
        model.manifest.tile.overlap,
        times.len(),
        times[times.len() / 2],
        times[0],
        tile_ms[tile_ms.len() / 2],
    );
    Ok(())
}

/// A deterministic skin-coloured image with texture (the network's cost does not depend on
/// the content; the texture keeps the argmax honest).
fn pattern(w: u32, h: u32) -> Rgb {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    Rgb::from_fn(w, h, |x, y| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let n = (state & 15) as u8;
        let g = ((x / 7 + y / 5) % 40) as u8;
        image::Rgb([190 + n + g / 2, 150 + n + g / 3, 130 + n])
    })
}
