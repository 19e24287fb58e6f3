//! Links libwbclient (pkg-config `wbclient`) and generates the few declarations epa uses from the
//! installed `wbclient.h`.

fn main() {
    let lib = match pkg_config::Config::new().probe("wbclient") {
        Ok(lib) => lib,
        Err(e) => {
            eprintln!("libwbclient not found (install libwbclient-dev): {e}");
            std::process::exit(1);
        }
    };
    let mut builder = bindgen::Builder::default()
        .header_contents("epa_wbclient.h", "#include <stdint.h>\n#include <stddef.h>\n#include <stdbool.h>\n#include <wbclient.h>\n")
        .allowlist_function("wbcCtxCreate|wbcCtxFree|wbcCtxAuthenticateUserEx|wbcCtxPing|wbcFreeMemory|wbcCtxLookupName|wbcCtxLookupUserSids|wbcCtxListTrusts")
        .allowlist_type("wbcAuthUserParams|wbcAuthUserInfo|wbcAuthErrorInfo|wbcSidWithAttr|wbcDomainSid|wbcSidType|wbcDomainInfo")
        .allowlist_var("WBC_.*")
        .layout_tests(true)
        .generate_comments(false);
    for path in &lib.include_paths {
        builder = builder.clang_arg(format!("-I{}", path.display()));
    }
    let bindings = match builder.generate() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("bindgen could not read wbclient.h: {e}");
            std::process::exit(1);
        }
    };
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    if let Err(e) = bindings.write_to_file(out.join("wbclient.rs")) {
        eprintln!("cannot write the bindings: {e}");
        std::process::exit(1);
    }
}
