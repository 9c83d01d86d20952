import Foundation

struct CommandOutput { var status: Int32; var stdout: String; var stderr: String }

/// Runs a command with a time limit (killed when it runs over); nil when it could not start or timed out.
func runCommand(_ path: String, _ args: [String], timeout: TimeInterval = 20, stdin: String? = nil) -> CommandOutput? {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    let inPipe = Pipe()
    p.standardInput = stdin == nil ? FileHandle.nullDevice : inPipe
    do { try p.run() } catch { return nil }
    if let stdin {
        inPipe.fileHandleForWriting.write(Data(stdin.utf8))
        try? inPipe.fileHandleForWriting.close()
    }
    // Read both pipes on background threads so a chatty child cannot block.
    final class Box: @unchecked Sendable { var data = Data() }
    let o = Box(), e = Box()
    let group = DispatchGroup()
    group.enter(); DispatchQueue.global().async { o.data = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    group.enter(); DispatchQueue.global().async { e.data = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    let deadline = Date().addingTimeInterval(timeout)
    while p.isRunning && Date() < deadline { usleep(10_000) }
    if p.isRunning {
        p.terminate()
        usleep(200_000)
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        _ = group.wait(timeout: .now() + 2)
        return nil
    }
    _ = group.wait(timeout: .now() + 5)
    return CommandOutput(status: p.terminationStatus, stdout: String(decoding: o.data, as: UTF8.self),
                         stderr: String(decoding: e.data, as: UTF8.self))
}
