// AtomicOutputFile: nothing at the final path before commit, exact contents after; discard and deinit leave
// no file at all (no temporary either); large writes bypass the buffer in order; creation errors name the path.
import NimbusPcap
import Testing

@Test func commitRenamesIntoPlace() throws {
    try withTemporaryDirectory { dir in
        let path = dir + "/result.bin"
        let f = try AtomicOutputFile(path: path)
        #expect(f.path == path)
        try f.write([1, 2, 3])
        try f.writeLE16(0x0504)
        try f.writeLE32(0x0908_0706)
        try ([10, 11] as [UInt8]).withUnsafeBytes { try f.write($0) }
        try f.write([])
        #expect(!fileExists(path), "nothing at the final path before commit")
        let before = listing(dir)
        #expect(before.count == 1)
        #expect(before.first?.hasPrefix(".result.bin.tmp") == true, "a hidden temporary beside it: \(before)")
        try f.commit()
        #expect(fileExists(path))
        #expect(try readFile(path) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
        #expect(listing(dir) == ["result.bin"], "the temporary is gone")
    }
}

@Test func commitReplacesAnExistingFile() throws {
    try withTemporaryDirectory { dir in
        let path = dir + "/existing"
        try writeFile(path, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
        let f = try AtomicOutputFile(path: path)
        try f.write([7])
        #expect(try readFile(path) == [0xFF, 0xFF, 0xFF, 0xFF, 0xFF], "old contents intact until commit")
        try f.commit()
        #expect(try readFile(path) == [7])
        #expect(listing(dir) == ["existing"])
    }
}

@Test func discardLeavesNothing() throws {
    try withTemporaryDirectory { dir in
        let path = dir + "/discarded.bin"
        let f = try AtomicOutputFile(path: path)
        try f.write([UInt8](repeating: 0x42, count: 100))
        #expect(listing(dir).count == 1)
        f.discard()
        #expect(!fileExists(path))
        #expect(listing(dir).isEmpty, "no temporary file either: \(listing(dir))")
        f.discard()                                               // idempotent
        #expect(listing(dir).isEmpty)
        // Committing after a discard fails and still creates nothing.
        #expect(captureError { try f.commit() } != nil)
        #expect(listing(dir).isEmpty)
    }
}

@Test func droppingUncommittedLeavesNothing() throws {
    try withTemporaryDirectory { dir in
        do {
            let f = try AtomicOutputFile(path: dir + "/dropped.bin")
            try f.write([1, 2, 3])
        }
        #expect(listing(dir).isEmpty)
    }
}

@Test func droppingAfterCommitKeepsTheFile() throws {
    try withTemporaryDirectory { dir in
        do {
            let f = try AtomicOutputFile(path: dir + "/kept.bin")
            try f.write([1, 2, 3])
            try f.commit()
        }
        #expect(listing(dir) == ["kept.bin"])
        #expect(try readFile(dir + "/kept.bin") == [1, 2, 3])
    }
}

@Test func largeWritesKeepTheirOrder() throws {
    try withTemporaryDirectory { dir in
        let path = dir + "/large.bin"
        let f = try AtomicOutputFile(path: path)
        let mib = 1 << 20
        var expected: [UInt8] = []
        let small = pattern(1000, seed: 1)
        let big = pattern(mib + 17, seed: 2)                      // larger than the 1 MiB buffer
        let nearlyFull = pattern(mib - 1000 - 2, seed: 3)         // leaves 2 bytes: the LE32 must flush first
        try f.write(small); expected += small
        try f.write(big); expected += big
        try big.withUnsafeBytes { try f.write($0) }; expected += big
        try f.write(nearlyFull); expected += nearlyFull
        try f.write(small); expected += small
        try f.writeLE32(0xDDCC_BBAA); expected += [0xAA, 0xBB, 0xCC, 0xDD]
        try f.writeLE16(0xFFEE); expected += [0xEE, 0xFF]
        try f.commit()
        let got = try readFile(path)
        #expect(got.count == expected.count)
        #expect(got == expected)
    }
}

@Test func creatingInAMissingDirectoryThrowsWithThePath() throws {
    try withTemporaryDirectory { dir in
        let path = dir + "/no/such/dir/out.pcap"
        let e = captureError { _ = try AtomicOutputFile(path: path) }
        let error = try #require(e)
        #expect(error.message.contains(path), "\(error.message)")
        #expect(error.description == error.message)
        #expect(listing(dir).isEmpty)
        // The writers pass the same error through.
        let w = try #require(captureError { _ = try PcapWriter(path: path) })
        #expect(w.message.contains(path))
        let n = try #require(captureError { _ = try PcapngWriter(path: path, interfaces: ["a"]) })
        #expect(n.message.contains(path))
    }
}
