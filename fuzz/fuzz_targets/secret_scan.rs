#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| keygate_fuzz_targets::secret_scan::run(data));
