import Foundation

/// The repository root: three levels above this file (Tests/NimbusDrawTests/Support.swift).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// Every example topology, Topologies/*.yaml, by path.
let exampleTopologies: [String] = {
    let dir = repositoryRoot.appendingPathComponent("Topologies")
    let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
    return names.filter { $0.hasSuffix(".yaml") }.sorted().map { dir.appendingPathComponent($0).path }
}()

/// The path of a tool when it is installed.
func tool(_ name: String) -> String? {
    for dir in ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/bin", "/sbin"] {
        let p = dir + "/" + name
        if FileManager.default.isExecutableFile(atPath: p) { return p }
    }
    return nil
}

/// Runs `executable` with `input` on its standard input; returns its status, standard output and error.
func run(_ executable: String, _ arguments: [String], input: String) throws -> (status: Int32, stdout: String, stderr: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    // Input through a file, so the test never blocks on a pipe dot is not reading yet.
    let inputFile = NSTemporaryDirectory() + "nimbus-draw-test-\(UUID().uuidString).dot"
    try input.write(toFile: inputFile, atomically: false, encoding: .utf8)
    defer { try? FileManager.default.removeItem(atPath: inputFile) }
    p.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: inputFile))
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}
