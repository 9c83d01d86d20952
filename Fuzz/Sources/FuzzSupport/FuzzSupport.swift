@_exported import CFuzzer

#if canImport(Glibc)
import Glibc
#endif

/// Where the repository is: `NIMBUS_ROOT` when set, else two levels above the Fuzz package (known at
/// compile time from this file's path).
public let repositoryRoot: String = {
    if let r = getenv("NIMBUS_ROOT") { return String(cString: r) }
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(4)  // Fuzz/Sources/FuzzSupport/FuzzSupport.swift
    return parts.joined(separator: "/")
}()

/// Every `Topologies/*.yaml`, sorted by name so a byte's choice is stable across runs.
public func exampleTopologyPaths() -> [String] {
    let dir = repositoryRoot + "/Topologies"
    guard let d = opendir(dir) else { return [] }
    defer { closedir(d) }
    var names: [String] = []
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        if name.hasSuffix(".yaml") { names.append(name) }
    }
    return names.sorted().map { dir + "/" + $0 }
}

/// Stops the fuzzer loudly: libFuzzer treats an abort as a crash and saves the input.
public func fuzzFailure(_ message: String) -> Never {
    let line = Array("fuzz invariant violated: \(message)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    abort()
}

/// Runs libFuzzer's driver (its command-line flags, corpus directories, artifacts) over `callback`.
public func runFuzzer(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                      _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv, callback)
}
