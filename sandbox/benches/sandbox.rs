//! The sandbox against native code. Prints figures and ratios; asserts nothing about time.
//!
//!   cargo build --bins && sdk/build-examples.sh target/examples
//!   cargo bench -p enclave-sandbox --bench sandbox
//!
//! (a) instantiate-and-run latency of an empty job with the pooling allocator and a warm
//! cache; (b) compile time of the example jobs; (c) `benches/kernel.c` under the sandbox vs
//! `gcc -O2`, and under raw wasmtime with no interruption checks, epoch checks only, and
//! epoch plus fuel (what the sandbox runs); (d) `sdk/examples/count_by_age.c` over a
//! generated claims dataset (`ENCLAVE_BENCH_PATIENTS`, default 100000), sandbox vs native.
//! Needs clang (wasm32-wasi), gcc and `target/debug/enclave` (or `ENCLAVE_BIN`). Every
//! figure is the best of `ENCLAVE_BENCH_REPS` runs (default 3).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark fails loudly"
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use enclave_sandbox::{JobSpec, Sandbox, SandboxConfig, SandboxLimits};
use wasmtime::{Config, Engine, Linker, Module, Store};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::{self, WasiP1Ctx};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

const KERNEL_SIZE: &str = "600";

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let work = tempfile::tempdir().unwrap();
    let reps: usize = env_or("ENCLAVE_BENCH_REPS", 3);
    // As the gateway runs it without a fuel limit: no fuel metering.
    let sandbox = Sandbox::new(SandboxConfig {
        fuel_metering: false,
        ..SandboxConfig::default()
    })
    .unwrap();

    // (a) An empty job, cache warm: `usage.wall_time` spans instantiation and `_start`;
    // the whole `run_blocking` adds the runtime, directories and the `/out` walk.
    let empty = wat::parse_str(r#"(module (memory (export "memory") 1) (func (export "_start")))"#)
        .unwrap();
    let mut inner = Vec::new();
    let mut whole = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        let output = sandbox
            .run_blocking(job(&work, empty.clone(), None, &[]))
            .unwrap();
        whole.push(started.elapsed());
        inner.push(output.usage.wall_time);
    }
    println!(
        "(a) empty job, warm cache, pooling: instantiate+run p50 {:.1} µs, whole run_blocking p50 {:.0} µs",
        micros(median(&mut inner)),
        micros(median(&mut whole))
    );

    // (b) Compile time of each example job on a cold cache.
    for entry in std::fs::read_dir(root.join("target/examples"))
        .into_iter()
        .flatten()
    {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "wasm") {
            let fresh = Sandbox::new(SandboxConfig::default()).unwrap();
            let bytes = std::fs::read(&path).unwrap();
            let output = fresh.run_blocking(job(&work, bytes, None, &[])).unwrap();
            println!(
                "(b) compile {}: {:.0} ms",
                path.file_name().unwrap().to_string_lossy(),
                millis(output.usage.compile_time)
            );
        }
    }

    // (c) The compute kernel.
    let kernel_c = root.join("sandbox/benches/kernel.c");
    let kernel_wasm = clang(&kernel_c, &work.path().join("kernel.wasm"), &[]);
    let kernel_native = gcc(&kernel_c, &work.path().join("kernel"), &[]);
    let native = best(reps, || {
        timed(Command::new(&kernel_native).arg(KERNEL_SIZE))
    });
    let sandboxed = best(reps, || {
        let output = sandbox
            .run_blocking(job(&work, kernel_wasm.clone(), None, &[KERNEL_SIZE]))
            .unwrap();
        assert!(output.outcome.succeeded(), "{}", output.outcome);
        output.usage.wall_time
    });
    println!(
        "(c) kernel: native {:.0} ms, sandbox {:.0} ms, ratio {:.2}x",
        millis(native),
        millis(sandboxed),
        ratio(sandboxed, native)
    );
    for (label, epoch, fuel) in [
        ("no interruption", false, false),
        ("epoch", true, false),
        ("epoch+fuel", true, true),
    ] {
        let raw = best(reps, || raw_wasmtime(&kernel_wasm, epoch, fuel));
        println!(
            "(c) kernel under raw wasmtime, {label}: {:.0} ms, ratio {:.2}x",
            millis(raw),
            ratio(raw, native)
        );
    }

    // (d) The claims scan: count by age band and sex over the person table.
    let patients: u32 = env_or("ENCLAVE_BENCH_PATIENTS", 100_000);
    let data = work.path().join("data");
    let enclave = std::env::var_os("ENCLAVE_BIN")
        .map_or_else(|| root.join("target/debug/enclave"), PathBuf::from);
    let made = Command::new(&enclave)
        .args([
            "generate-dataset",
            "--patients",
            &patients.to_string(),
            "--out",
        ])
        .arg(&data)
        .output()
        .expect("run enclave generate-dataset (build it first)");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let rows = std::fs::read_to_string(data.join("person/person.csv"))
        .unwrap()
        .lines()
        .count()
        - 1;
    let scan_c = root.join("sdk/examples/count_by_age.c");
    let include = format!("-I{}", root.join("sdk/c").display());
    let scan_wasm = clang(&scan_c, &work.path().join("scan.wasm"), &[&include]);
    let native_out = work.path().join("native-out");
    std::fs::create_dir_all(&native_out).unwrap();
    let defines = [
        include.clone(),
        format!("-DDATA_ROOT=\"{}\"", data.display()),
        format!("-DOUT_ROOT=\"{}\"", native_out.display()),
    ];
    let defines: Vec<&str> = defines.iter().map(String::as_str).collect();
    let scan_native = gcc(&scan_c, &work.path().join("scan"), &defines);
    let native = best(reps, || timed(&mut Command::new(&scan_native)));
    let sandboxed = best(reps, || {
        let output = sandbox
            .run_blocking(job(&work, scan_wasm.clone(), Some(&data), &[]))
            .unwrap();
        assert!(output.outcome.succeeded(), "{}", output.outcome);
        output.usage.wall_time
    });
    let per_second = |time: Duration| rows as f64 / time.as_secs_f64();
    println!(
        "(d) scan of {rows} persons: native {:.1} ms ({:.2e} rows/s), sandbox {:.1} ms ({:.2e} rows/s), ratio {:.2}x",
        millis(native),
        per_second(native),
        millis(sandboxed),
        per_second(sandboxed),
        ratio(sandboxed, native)
    );
    println!(
        "(e) submit-to-succeeded through SSH: cargo bench -p enclave-tests --bench sandbox_e2e"
    );
}

fn job(work: &tempfile::TempDir, module: Vec<u8>, data: Option<&Path>, args: &[&str]) -> JobSpec {
    let out = tempfile::tempdir_in(work.path()).unwrap().keep();
    JobSpec {
        program: module.into(),
        data_dir: data.map(Path::to_path_buf),
        out_dir: out,
        tmp_dir: None,
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        env: Vec::new(),
        seed: [0; 32],
        limits: SandboxLimits::default(),
    }
}

/// The kernel under a plain wasmtime engine with the given instrumentation; times `_start`.
fn raw_wasmtime(bytes: &[u8], epoch: bool, fuel: bool) -> Duration {
    let mut config = Config::new();
    config
        .epoch_interruption(epoch)
        .consume_fuel(fuel)
        // As the sandbox's engine: the workspace builds wasmtime's `gc` feature without a
        // collector.
        .wasm_gc(false)
        .wasm_function_references(false)
        .wasm_exceptions(false)
        .gc_support(false);
    let engine = Engine::new(&config).unwrap();
    let module = Module::new(&engine, bytes).unwrap();
    let mut linker: Linker<WasiP1Ctx> = Linker::new(&engine);
    p1::add_to_linker_sync(&mut linker, |ctx| ctx).unwrap();
    let wasi = WasiCtxBuilder::new()
        .args(&["job", KERNEL_SIZE])
        .stdout(MemoryOutputPipe::new(4096))
        .build_p1();
    let mut store = Store::new(&engine, wasi);
    if epoch {
        store.set_epoch_deadline(u64::MAX);
    }
    if fuel {
        store.set_fuel(u64::MAX).unwrap();
    }
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let start = instance
        .get_typed_func::<(), ()>(&mut store, "_start")
        .unwrap();
    let started = Instant::now();
    start.call(&mut store, ()).unwrap();
    started.elapsed()
}

fn clang(source: &Path, out: &Path, extra: &[&str]) -> Vec<u8> {
    let status = Command::new("clang")
        .args(["--target=wasm32-wasi", "-O2", "-s"])
        .args(extra)
        .arg("-o")
        .arg(out)
        .arg(source)
        .status()
        .expect("clang with the wasm32-wasi target");
    assert!(status.success(), "clang {}", source.display());
    std::fs::read(out).unwrap()
}

fn gcc(source: &Path, out: &Path, extra: &[&str]) -> PathBuf {
    let status = Command::new("gcc")
        .arg("-O2")
        .args(extra)
        .arg("-o")
        .arg(out)
        .arg(source)
        .status()
        .expect("gcc");
    assert!(status.success(), "gcc {}", source.display());
    out.to_owned()
}

fn timed(command: &mut Command) -> Duration {
    let started = Instant::now();
    let output = command.output().unwrap();
    let took = started.elapsed();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    took
}

fn best(reps: usize, mut measure: impl FnMut() -> Duration) -> Duration {
    (0..reps.max(1)).map(|_| measure()).min().unwrap()
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
