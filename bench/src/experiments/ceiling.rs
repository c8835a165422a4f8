//! The generator's own ceiling: frames per second when the device under test
//! drops each frame at once (`bench_drop`). No result above it means
//! anything, so every forwarding result is read against it.

use galette_bench_report::GeneratorCeiling;

use crate::BenchError;
use crate::dut::StartedDut;
use crate::testbed::Testbed;

pub fn run(testbed: &mut Testbed, sizes: &[u32]) -> Result<Vec<GeneratorCeiling>, BenchError> {
    let dut = StartedDut::program(&mut testbed.ebpf, &testbed.dut.clone(), "bench_drop")?;

    let mut ceilings = Vec::new();
    for &frame_bytes in sizes {
        // The sink sees nothing here: what the generator sent is the figure.
        let measured = testbed.measure(frame_bytes, None, None);
        let measured = match measured {
            Ok(measured) => measured,
            Err(err) => {
                let _ = dut.stop(&mut testbed.ebpf);
                return Err(err);
            }
        };
        println!("  generator ceiling, {frame_bytes} B: {:.3} Mpps", measured.offered_pps / 1e6);
        ceilings.push(GeneratorCeiling { frame_bytes, pps: measured.offered_pps });
    }
    dut.stop(&mut testbed.ebpf)?;
    Ok(ceilings)
}
