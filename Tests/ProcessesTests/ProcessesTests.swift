import Foundation
import Processes
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

@Suite struct ChildProcessTests {
    @Test func runsInTheGivenDirectoryAndCapturesBothStreams() async throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let child = try ChildProcess(["sh", "-c", "pwd; echo oops >&2; exit 3"], in: folder)
        let outcome = await child.wait(timeout: .seconds(30))
        #expect(outcome.stdout == folder + "\n")
        #expect(outcome.stderr == "oops\n")
        #expect(outcome.exitCode == 3 && outcome.signal == nil && !outcome.timedOut)
        #expect(outcome.statusDescription == "exit status 3")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty, "the capture files are deleted")
    }

    @Test func readsStdinFromTheGivenFile() async throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try "one\ntwo\n".write(toFile: folder + "/in.txt", atomically: true, encoding: .utf8)
        let outcome = try await ChildProcess(["wc", "-l"], input: folder + "/in.txt", captureDirectory: folder)
            .wait(timeout: .seconds(30))
        #expect(outcome.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "2")
    }

    @Test func theWatchdogKillsTheWholeProcessGroup() async throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // The grandchild writes its pid, then sleeps; killing only the shell would leave it running.
        let child = try ChildProcess(
            ["sh", "-c", "sleep 30 & echo $! > grandchild; wait"], in: folder, newProcessGroup: true)
        let outcome = await child.wait(timeout: .milliseconds(500))
        #expect(outcome.timedOut && outcome.killedBySIGKILL, "\(outcome)")
        let written = try String(contentsOfFile: folder + "/grandchild", encoding: .utf8)
        let grandchild = try #require(pid_t(written.trimmingCharacters(in: .whitespacesAndNewlines)))
        let deadline = monotonicSeconds() + 5
        while isRunning(grandchild), monotonicSeconds() < deadline { usleep(10_000) }
        #expect(!isRunning(grandchild), "the grandchild \(grandchild) outlived its group")
    }

    @Test func killWhenStopsTheChildOnceTheConditionHolds() async throws {
        let child = try ChildProcess(["sleep", "30"])
        let checks = Mutex(0)
        let outcome = await child.wait(interval: .milliseconds(5)) {
            checks.withLock { count in
                count += 1
                return count == 3
            }
        }
        #expect(outcome.killedBySIGKILL && !outcome.timedOut, "\(outcome)")
        // Killed, not waited out: well before the 30 s the child sleeps, however loaded the machine.
        #expect(outcome.seconds < 25)
    }

    @Test func aMissingProgramThrowsNamingIt() {
        let error = #expect(throws: SpawnError.self) { try ChildProcess(["flywheel-no-such-program"]) }
        #expect(error?.code == ENOENT)
        #expect(error?.message == "could not start `flywheel-no-such-program`: No such file or directory")
    }

    #if os(Linux)
        @Test func theChildGetsSIGPIPEBackAndAnEmptyMaskButNoOpenPipes() async throws {
            // As the CLI does at start-up; left so, since other tests may write to pipes at the same time.
            signal(SIGPIPE, SIG_IGN)
            let pipe = try Spawn.pipe()
            defer {
                close(pipe.read)
                close(pipe.write)
            }
            // The spawned program itself reads its status; a shell would show its own mask, blocked while it waits.
            let outcome = try await ChildProcess(["grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"])
                .wait(timeout: .seconds(30))
            let fields = Dictionary(
                outcome.stdout.split(separator: "\n").compactMap { line -> (String, UInt64)? in
                    let parts = line.split(separator: ":").map { $0.trimmingCharacters(in: .whitespaces) }
                    guard parts.count == 2, let mask = UInt64(parts[1], radix: 16) else { return nil }
                    return (parts[0], mask)
                }, uniquingKeysWith: { first, _ in first })
            let pipeBit: UInt64 = 1 << (UInt64(SIGPIPE) - 1)
            #expect(fields["SigIgn"].map { $0 & pipeBit == 0 } == true, "\(outcome)")
            #expect(fields["SigBlk"] == 0, "\(outcome)")
            let listing = try await ChildProcess(["sh", "-c", "ls /proc/$$/fd"]).wait(timeout: .seconds(30))
            let descriptors = listing.stdout.split(separator: "\n").compactMap { Int32($0) }
            #expect(descriptors.contains(2), "\(listing)")
            #expect(!descriptors.contains(pipe.read) && !descriptors.contains(pipe.write), "\(listing)")
        }
    #endif
}

@Suite struct LineWorkerTests {
    @Test func answersLineByLineAndForwardsStderr() async throws {
        let lines = Mutex<[String]>([])
        let worker = try LineWorker(
            argv: ["sh", "-c", "while read line; do echo \"got $line\"; echo \"note $line\" >&2; done"],
            directory: nil
        ) { line in lines.withLock { $0.append(line) } }
        for word in ["a", "b"] {
            let answer = await worker.exchange(Data(word.utf8), timeout: 10, startup: 0, maxBytes: 100)
            #expect((try? answer.get()).map { String(decoding: $0, as: UTF8.self) } == "got \(word)")
        }
        await worker.shutdown(grace: 5)
        let deadline = monotonicSeconds() + 5
        while lines.withLock({ $0.count }) < 2, monotonicSeconds() < deadline { usleep(10_000) }
        #expect(lines.withLock { $0 } == ["note a", "note b"])
    }

    @Test func silenceIsATimeoutAndARunawayLineIsTooLarge() async throws {
        let silent = try LineWorker(argv: ["sh", "-c", "read line; sleep 30"], directory: nil) { _ in }
        let started = monotonicSeconds()
        let quiet = await silent.exchange(Data("x".utf8), timeout: 0.2, startup: 0.1, maxBytes: 100)
        #expect(quiet == .failure(LineWorkerError.timeout("no response in time; worker killed and restarted")))
        #expect(monotonicSeconds() - started < 5)

        let loud = try LineWorker(argv: ["sh", "-c", "read line; head -c 5000 /dev/zero; sleep 30"], directory: nil) {
            _ in
        }
        let big = await loud.exchange(Data("x".utf8), timeout: 10, startup: 0, maxBytes: 100)
        #expect(big == .failure(LineWorkerError.tooLarge("the response exceeded 100 bytes; worker restarted")))
    }

    /// A worker that answers each request with one line of `length` bytes (plus the newline), written at once.
    func answering(length: Int) throws -> LineWorker {
        let program =
            "import sys\nfor _ in sys.stdin:\n    sys.stdout.write('a' * \(length) + '\\n'); sys.stdout.flush()"
        return try LineWorker(argv: ["python3", "-c", program], directory: nil) { _ in }
    }

    @Test(
        "the response cap holds whatever the read boundaries: one read under 64 KiB, many reads over 1 MiB",
        arguments: [1000, 1 << 20])
    func theCapHoldsOnEveryLine(cap: Int) async throws {
        for length in [cap - 1, cap] {
            let worker = try answering(length: length)
            let answer = await worker.exchange(Data("x".utf8), timeout: 30, startup: 10, maxBytes: cap)
            #expect((try? answer.get())?.count == length, "a line of \(length) bytes is within a cap of \(cap)")
        }
        // Half the cap again, and a line just past the cap: both arrive in reads that also carry the newline.
        for length in [cap + cap / 2, cap + 1] {
            let worker = try answering(length: length)
            let answer = await worker.exchange(Data("x".utf8), timeout: 30, startup: 10, maxBytes: cap)
            #expect(
                answer == .failure(LineWorkerError.tooLarge("the response exceeded \(cap) bytes; worker restarted")),
                "a line of \(length) bytes over a cap of \(cap)")
        }
    }

    @Test("a program that dies at start-up, before reading its first request, cannot start")
    func dyingAtStartUpIsNotACrash() async throws {
        let dies = try LineWorker(argv: ["python3", "-c", "import sys; sys.exit(3)"], directory: nil) { _ in }
        #expect(
            await dies.exchange(Data("x".utf8), timeout: 10, startup: 10, maxBytes: 100)
                == .failure(.cannotStart("it exited before reading its first request (exit status 3)")))

        // Silent at start-up is a timeout, not a failed start: on a loaded machine a start can just be slow.
        let stalls = try LineWorker(argv: ["sleep", "30"], directory: nil) { _ in }
        #expect(
            await stalls.exchange(Data("x".utf8), timeout: 0.2, startup: 0.1, maxBytes: 100)
                == .failure(.timeout("no response in time; worker killed and restarted")))

        #expect(
            throws: LineWorkerError.cannotStart("could not start `flywheel-no-such-program`: No such file or directory")
        ) {
            try LineWorker(argv: ["flywheel-no-such-program"], directory: nil) { _ in }
        }
    }

    @Test("a worker that read its first request and then died crashed; one that served a request never 'cannot start'")
    func dyingAfterReadingIsACrash() async throws {
        let worker = try LineWorker(argv: ["sh", "-c", "read line; echo one; read line; exit 5"], directory: nil) { _ in
        }
        #expect(
            (try? await worker.exchange(Data("a".utf8), timeout: 10, startup: 10, maxBytes: 100).get())
                == Data("one".utf8))
        guard
            case .failure(.crash(let message)) = await worker.exchange(
                Data("b".utf8), timeout: 10, startup: 0, maxBytes: 100)
        else {
            Issue.record("expected a crash")
            return
        }
        #expect(message.contains("exit status 5"))
    }

    @Test func anExitIsACrashWithItsStatus() async throws {
        let worker = try LineWorker(argv: ["sh", "-c", "read line; exit 4"], directory: nil) { _ in }
        let result = await worker.exchange(Data("x".utf8), timeout: 10, startup: 0, maxBytes: 100)
        #expect(
            result
                == .failure(
                    LineWorkerError.crash("the worker died (it closed its output; exit status 4); it will be restarted")
                )
        )
        #expect(
            await worker.exchange(Data("y".utf8), timeout: 10, startup: 0, maxBytes: 100)
                == .failure(LineWorkerError.crash("the worker had exited")))
    }

    /// Sends every line at once, from the loop's thread, and collects what each request got, in the order given.
    func sendAll(_ lines: [String], to worker: LineWorker) async -> [Result<Data, LineWorkerError>?] {
        await withCheckedContinuation { continuation in
            EventLoop.shared.execute {
                var answers: [Int: Result<Data, LineWorkerError>?] = [:]
                for (index, line) in lines.enumerated() {
                    worker.send(Data(line.utf8), timeout: 10, startup: 10, maxBytes: 100) { answer in
                        answers[index] = answer
                        if answers.count == lines.count {
                            continuation.resume(returning: lines.indices.map { answers[$0]! })
                        }
                    }
                }
            }
        }
    }

    @Test("requests sent before the ones ahead are answered get their answers in order")
    func requestsWaitingInThePipeAreAnsweredInOrder() async throws {
        let worker = try LineWorker(argv: ["sh", "-c", "while read line; do echo \"got $line\"; done"], directory: nil)
        {
            _ in
        }
        let answers = await sendAll(["a", "b", "c", "d"], to: worker)
        #expect(
            answers.map { ($0.flatMap { try? $0.get() }).map { String(decoding: $0, as: UTF8.self) } } == [
                "got a", "got b", "got c", "got d",
            ])
        #expect(worker.hasAnswered)
        await worker.shutdown(grace: 5)
    }

    @Test("a program that closes its input and stays silent times out, whatever is sent to it after")
    func aClosedInputTimesOut() async throws {
        let worker = try LineWorker(argv: ["sh", "-c", "exec 0<&-; sleep 30"], directory: nil) { _ in }
        usleep(200_000)  // it has closed its input by now
        for line in ["a", "b"] {
            let started = monotonicSeconds()
            let answer = await worker.exchange(Data(line.utf8), timeout: 0.3, startup: 0.2, maxBytes: 100)
            #expect(monotonicSeconds() - started < 5)
            guard case .failure(let failure) = answer else {
                Issue.record("request \(line) must fail, got \(answer)")
                continue
            }
            // The first waits out its timeout and kills the program; the one after finds it gone.
            if line == "a" {
                #expect(failure == .timeout("no response in time; worker killed and restarted"))
            }
        }
    }

    @Test("a request larger than a pipe holds is written as the program reads it")
    func aRequestLargerThanThePipeIsWrittenWhole() async throws {
        let program = "import sys\nfor line in sys.stdin:\n    print(len(line) - 1, flush=True)"
        let worker = try LineWorker(argv: ["python3", "-c", program], directory: nil) { _ in }
        let answer = await worker.exchange(
            Data(repeating: 0x61, count: 300_000), timeout: 30, startup: 10, maxBytes: 100)
        #expect((try? answer.get()).map { String(decoding: $0, as: UTF8.self) } == "300000")
        await worker.shutdown(grace: 5)
    }

    @Test("when a worker fails, the request it was answering gets the failure and those behind it get nil")
    func aFailureEndsTheRequestBeingAnsweredOnly() async throws {
        let worker = try LineWorker(argv: ["sh", "-c", "read line; echo one; read line; exit 6"], directory: nil) { _ in
        }
        let answers = await sendAll(["a", "b", "c"], to: worker)
        #expect((try? answers[0]?.get()) == Data("one".utf8))
        guard case .failure(.crash(let message))? = answers[1] else {
            Issue.record("the second request must get the crash, got \(String(describing: answers[1]))")
            return
        }
        #expect(message.contains("exit status 6"))
        #expect(answers[2] == nil, "the third was not answered and was no fault of its own")
    }
}

/// Whether `pid` exists and is not a zombie (an orphan is reaped by whatever init the machine runs, maybe never).
private func isRunning(_ pid: pid_t) -> Bool {
    guard kill(pid, 0) == 0 else { return false }
    #if os(Linux)
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let afterName = stat.range(of: ") ", options: .backwards)
        else { return false }
        return stat[afterName.upperBound...].first != "Z"
    #else
        return true
    #endif
}

private func temporaryFolder() throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("flywheel-processes-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    // pwd prints the resolved path.
    guard let resolved = realpath(url.path, nil) else { return url.path }
    defer { free(resolved) }
    return String(cString: resolved)
}
