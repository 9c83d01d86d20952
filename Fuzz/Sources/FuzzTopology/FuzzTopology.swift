// libFuzzer target: the topology loader on arbitrary text.
//
// `TopologyLoader.load(yaml:file:)` must return a model or throw a `TopologyError` with at least one
// diagnostic, each naming the file with a line and column >= 1; never trap. A model that loads is also
// compiled (`dataplaneConfig()`), as `nimbus replay` would do next.
import FuzzSupport
import NimbusDataplane
import NimbusTopology

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    do {
        let topology = try TopologyLoader.load(yaml: text, file: "fuzz.yaml")
        let config = topology.dataplaneConfig()
        if config.ports.isEmpty { fuzzFailure("a loaded topology compiled without the internet port") }
    } catch {
        if error.diagnostics.isEmpty { fuzzFailure("TopologyError without diagnostics") }
        for d in error.diagnostics {
            if d.line < 1 || d.column < 1 || d.file != "fuzz.yaml" || d.message.isEmpty {
                fuzzFailure("diagnostic without a position: \(d)")
            }
        }
    }
    return 0
}

/// The entry point: SwiftPM links `main` to `FuzzTopology_main`, which hands over to libFuzzer's driver.
@_cdecl("FuzzTopology_main")
public func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzz(data!, size) }
}
