import ArgumentParser
import Foundation
import NimbusDraw
import NimbusTopology

/// What `nimbus draw` writes.
enum DrawFormat: String, CaseIterable, ExpressibleByArgument {
    case svg, dot, png
}

struct Draw: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw a topology with Graphviz: networks, subnets, instances, NAT gateways, load balancers, tunnels.")

    @Argument(help: "The topology file (YAML).")
    var topology: String

    @Option(help: "svg or png (rendered by Graphviz's dot), or dot (the graph itself, no Graphviz needed).")
    var format: DrawFormat = .svg

    @Option(help: ArgumentHelp("Write here instead of standard output; completely or not at all.", valueName: "FILE"))
    var output: String?

    func run() throws {
        let t = try loadTopology(topology)
        if format == .png && output == nil && isatty(1) != 0 {
            printError("nimbus draw: PNG is not for a terminal; give --output FILE or redirect standard output")
            throw ExitCode(badInputStatus)
        }
        let text = t.dot()
        let bytes: Data
        switch format {
        case .dot: bytes = Data(text.utf8)
        case .svg, .png: bytes = try Graphviz.render(text, format: format.rawValue)
        }
        do throws(SystemCallError) {
            if let output {
                try writeAtomically(bytes, to: output)
            } else {
                try writeAll(bytes, to: 1)
            }
        } catch {
            printError("nimbus draw: \(output ?? "standard output"): \(error)")
            throw ExitCode(badInputStatus)
        }
    }
}

/// Graphviz's `dot`, run as a process.
enum Graphviz {
    /// `dot` as the shell would find it, on the PATH.
    static func dotPath() -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":").map { $0 + "/dot" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// The graph rendered by `dot -T<format>`; a one-line error and `ExitCode` when `dot` is missing
    /// (status 2: the machine lacks what the command needs) or fails (status 1: the graph is ours,
    /// so that is a bug).
    static func render(_ graph: String, format: String) throws -> Data {
        guard let dot = dotPath() else {
            printError("nimbus draw: Graphviz's dot is not installed (Debian: apt-get install graphviz); "
                + "--format dot needs no Graphviz")
            throw ExitCode(badInputStatus)
        }
        do {
            // Input and errors through unlinked temporary files, so only one pipe (the output) is read
            // while dot runs and neither side can block on a full pipe.
            let input = try anonymousFile()
            try input.write(contentsOf: Data(graph.utf8))
            try input.seek(toOffset: 0)
            let errors = try anonymousFile()
            let output = Pipe()
            let process = Process()
            process.executableURL = URL(fileURLWithPath: dot)
            process.arguments = ["-T" + format]
            process.standardInput = input
            process.standardOutput = output
            process.standardError = errors
            try process.run()
            let rendered = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            if process.terminationStatus != 0 || process.terminationReason != .exit {
                try errors.seek(toOffset: 0)
                let message = String(decoding: try errors.readToEnd() ?? Data(), as: UTF8.self)
                    .split(separator: "\n").first.map(String.init) ?? "status \(process.terminationStatus)"
                printError("nimbus draw: dot failed: \(message)")
                throw ExitCode(1)
            }
            return rendered
        } catch let status as ExitCode {
            throw status
        } catch {
            printError("nimbus draw: cannot run \(dot): \(error)")
            throw ExitCode(1)
        }
    }

    /// A read-write temporary file with no name: removed by the system when closed.
    private static func anonymousFile() throws -> FileHandle {
        let dir = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        var template = Array("\(dir)/nimbus-draw-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw SystemCallError("cannot create a temporary file in \(dir)") }
        unlink(template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        return FileHandle(fileDescriptor: fd, closeOnDealloc: true)
    }
}

/// A failed system call, with its `strerror` text.
struct SystemCallError: Error, CustomStringConvertible {
    var description: String

    init(_ what: String, _ code: Int32 = errno) {
        description = "\(what): \(String(cString: strerror(code)))"
    }
}

/// Writes all of `data` to `fd`.
func writeAll(_ data: Data, to fd: Int32) throws(SystemCallError) {
    var failure: SystemCallError?
    data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
        var offset = 0
        while offset < buffer.count {
            let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                failure = SystemCallError("cannot write")
                return
            }
            offset += n
        }
    }
    if let failure { throw failure }
}

/// Writes `data` to a hidden temporary file beside `path` and renames it into place, so `path` is
/// either the whole new file or untouched.
func writeAtomically(_ data: Data, to path: String) throws(SystemCallError) {
    let url = URL(fileURLWithPath: path)
    var template = Array("\(url.deletingLastPathComponent().path)/.\(url.lastPathComponent).XXXXXX".utf8CString)
    let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    guard fd >= 0 else { throw SystemCallError("cannot create") }
    let temp = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    do throws(SystemCallError) {
        defer { close(fd) }
        // mkstemp makes the file 0600; the result is an ordinary file, as `>` would make it.
        fchmod(fd, 0o644)
        try writeAll(data, to: fd)
        guard fsync(fd) == 0 else { throw SystemCallError("cannot write") }
        guard rename(temp, path) == 0 else { throw SystemCallError("cannot rename \(temp) into place") }
    } catch {
        unlink(temp)
        throw error
    }
}
