// sweep-bench-tpe: our TPE (and random search) through the real trial controller and store, on a
// closed-form objective with a known optimum, and the time a proposal takes with N trials stored.
//
//   sweep-bench-tpe analytic --method tpe|random [--seeds 10] [--trials 40]
//       one JSON line per seed: {"seed": s, "values": [...]}, each trial's value in order
//   sweep-bench-tpe latency [--stored 1000] [--asks 20]
//       {"stored": N, "median_seconds": t}: one ask (proposal, insert, claim) with N finished trials
//   sweep-bench-tpe pareto --problem zdt1|zdt2|dtlz2|dtlz2-4 --method random|tpe|nsga2|gp [--seeds 30] [--trials 100] [--univariate]
//       one JSON line per seed: {"seed": s, "points": [[f1, f2(, f3)], ...]}, every trial's objectives
//   sweep-bench-tpe functions --problem branin|hartmann6|rosenbrock4|ellipsoid5 --method random|tpe|gp [--seeds 20] [--trials 60]
//       one JSON line per seed: {"seed": s, "values": [...]}, each trial's value in order
//   sweep-bench-tpe gp-latency [--problem hartmann6|zdt1|dtlz2|dtlz2-4] [--stored 1000] [--asks 5]
//       {"stored": N, "sampler_median_seconds": s, "front": F}: the GP's proposal with N finished
//       trials of random search on the problem stored (F of them on its front)
//   sweep-bench-tpe pareto-latency --problem zdt1 --method tpe|nsga2 [--stored 1000] [--asks 20]
//       {"stored": N, "median_seconds": t, "sampler_median_seconds": s}: one ask with N finished
//       trials of the problem, and the sampler's proposal alone on them
//
// The objective and space are Benchmarks/tpe_optuna.py's, which runs Optuna's TPE on them.
import Foundation
import ML
import SweepCore
import Vocabulary

/// The loss-search space as a sweep file.
func sweepText(method: String, seed: Int, count: Int) -> String {
    """
    name: tpe-bench
    dataset: {synthetic: {preset: small, seed: 1}}
    method: \(method)
    count: \(count)
    seed: \(seed)
    fixed: {epochs: 1}
    parameters:
      loss: {values: [bce, weighted_bce, focal, class_balanced]}
      pos_weight_mult: {distribution: log_uniform, min: 0.25, max: 4, when: {loss: weighted_bce}}
      rnn: {values: [false, true]}
      multitask: {values: [false, true]}
      balancer: {values: [fixed, uncertainty, gradnorm, dwa], when: {multitask: true}}
      alpha: {distribution: log_uniform, min: 0.0001, max: 1, when: {balancer: fixed}}
      lr: {distribution: log_uniform, min: 0.00001, max: 0.003}

    """
}

/// tpe_optuna.py's `analytic`: a smooth function with its optimum of 0.05 at weighted BCE,
/// mult √2, lr 10^-2.8, no GRU, no tag head (or the tag head at α 1e-3).
func analytic(_ config: TrialConfig) -> Double {
    var value = ["bce": 0.0, "weighted_bce": 0.05, "focal": 0.03, "class_balanced": 0.02][config.loss.rawValue]!
    value -= 0.02 * pow(log10(config.lr) + 2.8, 2)
    if config.loss == .weightedBCE { value -= 0.03 * pow(log2(config.posWeightMult) - 0.5, 2) }
    if config.rnn { value -= 0.03 }
    if config.multitask {
        value -=
            config.balancer == .fixed
            ? 0.01 * pow(log10(config.alpha) + 3, 2)
            : ["uncertainty": 0.005, "gradnorm": 0.008, "dwa": 0.006][config.balancer.rawValue]!
    }
    return value
}

/// A controller over a fresh in-memory store.
func controller(method: String, seed: Int, count: Int) throws -> TrialController {
    let spec = try SweepSpec.parse(sweepText(method: method, seed: seed, count: count), file: URL(fileURLWithPath: "/tmp/tpe-bench.yaml"))
    let controller = try TrialController(spec: spec, store: try SweepStore.inMemory(), trainExamples: 1)
    _ = try controller.applyPlan(fingerprint: "bench", popularity: nil)
    try controller.store.recordWorker(name: "w", host: "h", cores: 1, blasThreads: 1, blasCore: "none", state: .online)
    return controller
}

/// Reports `value` as a one-epoch trial's result (valid nDCG@10).
func report(_ controller: TrialController, lease: String, value: Double) throws {
    let metrics = RankingMetrics(dictionary: Dictionary(uniqueKeysWithValues: RankingMetrics.names.map { ($0, value) }))!
    let record = EpochRecord(
        epoch: 1, lossMain: 0, lossAux: nil, weights: .singleTask, valid: metrics, test: metrics, seconds: 0, trainSeconds: 0)
    _ = try controller.tellResult(
        lease: lease, worker: "w",
        report: TrialResult(
            bestEpoch: 1, valid: metrics.dictionary, test: metrics.dictionary, history: [record],
            timing: TrainingTiming(examplesPerSecond: 0, secondsPerEpoch: 0, totalSeconds: 0, threads: 1, blasCore: "none")))
}

func option(_ name: String, _ fallback: Int) -> Int {
    let arguments = CommandLine.arguments
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count, let value = Int(arguments[index + 1]) else {
        return fallback
    }
    return value
}

func printJSON(_ object: [String: Any]) throws {
    FileHandle.standardOutput.write(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) + Data("\n".utf8))
}

/// The multi-objective test problems of Benchmarks/pareto_optuna.py, six variables in [0, 1], every
/// objective minimized: ZDT1 and ZDT2 (Zitzler, Deb and Thiele 2000), DTLZ2 with 3 objectives and
/// `dtlz2-4` with 4.
func paretoProblem(_ name: String, _ x: [Double]) -> [Double] {
    switch name {
    case "zdt1", "zdt2":
        let g = 1 + 9 * x.dropFirst().reduce(0, +) / Double(x.count - 1)
        let ratio = x[0] / g
        return [x[0], g * (1 - (name == "zdt1" ? ratio.squareRoot() : ratio * ratio))]
    default:  // dtlz2, dtlz2-4: the first M − 1 variables are angles, the rest set the distance
        let m = paretoObjectives(name)
        let g = x.dropFirst(m - 1).reduce(0) { $0 + ($1 - 0.5) * ($1 - 0.5) }
        let angles = x.prefix(m - 1).map { $0 * Double.pi / 2 }
        return (0..<m).map { i in
            (1 + g) * angles.prefix(m - 1 - i).reduce(1) { $0 * cos($1) } * (i == 0 ? 1 : sin(angles[m - 1 - i]))
        }
    }
}

func paretoObjectives(_ problem: String) -> Int {
    switch problem {
    case "dtlz2": 3
    case "dtlz2-4": 4
    default: 2
    }
}

/// A program sweep over x0…x5 minimizing the problem's objectives (never run as a program: the
/// benchmark tells each result itself).
func paretoController(problem: String, method: String, seed: Int, count: Int) throws -> TrialController {
    let objectives = (1...paretoObjectives(problem)).map { "  - {name: valid_f\($0), goal: minimize}" }.joined(separator: "\n")
    let text = """
        name: pareto-bench
        program: {dir: /nonexistent, command: [none]}
        dataset: none
        objectives:
        \(objectives)
        method: \(method)
        count: \(count)
        seed: \(seed)
        \(CommandLine.arguments.contains("--univariate") ? "tpe: {multivariate: false}" : "")
        parameters:
        \((0..<6).map { "  x\($0): {distribution: uniform, min: 0, max: 1}" }.joined(separator: "\n"))

        """
    let controller = try TrialController(spec: try SweepSpec.parseStored(text), store: try SweepStore.inMemory(), trainExamples: 1)
    _ = try controller.applyPlan(fingerprint: "bench", popularity: nil)
    try controller.store.recordWorker(name: "w", host: "h", cores: 1, blasThreads: 1, blasCore: "none", state: .online)
    return controller
}

/// Evaluates a claimed trial on the problem and tells its result; returns the objectives.
func tellPareto(_ controller: TrialController, problem: String, claim: Claim) throws -> [Double] {
    let keys = try claim.config().programKeys ?? [:]
    let values = paretoProblem(problem, (0..<6).map { keys["x\($0)"]?.number ?? 0 })
    try tellProgramResult(
        controller, claim: claim, metrics: Dictionary(uniqueKeysWithValues: values.enumerated().map { ("f\($0.offset + 1)", $0.element) }))
    return values
}

/// Tells a program trial's one-epoch result with these valid (and test) metrics.
func tellProgramResult(_ controller: TrialController, claim: Claim, metrics: [String: Double]) throws {
    let record = EpochRecord(
        epoch: 1, lossMain: nil, lossAux: nil, weights: .singleTask, valid: RankingMetrics(values: metrics),
        test: RankingMetrics(values: metrics), seconds: 0, trainSeconds: 0)
    _ = try controller.tellResult(
        lease: claim.lease, worker: "w",
        report: TrialResult(
            bestEpoch: 1, valid: metrics, test: metrics, history: [record],
            timing: TrainingTiming(examplesPerSecond: 0, secondsPerEpoch: 0, totalSeconds: 0, threads: 1, blasCore: "none")))
}

/// The single-objective test functions of Benchmarks/gp_optuna.py: each one's bounds, goal and value.
/// Branin (2-D, minimum 0.397887), Hartmann-6 (6-D in [0, 1], maximum 3.32237), and two of the
/// BBOB suite's (Hansen et al. 2009) with a fixed optimum x*: f8 Rosenbrock in 4-D and f2 the
/// separable ellipsoid (condition 10⁶) in 5-D, both on [−5, 5] with minimum 0.
struct TestFunction {
    var bounds: [(Double, Double)]
    var maximize: Bool
    var value: ([Double]) -> Double

    static func named(_ name: String) -> TestFunction {
        switch name {
        case "branin":
            return TestFunction(bounds: [(-5, 10), (0, 15)], maximize: false) { x in
                let b = 5.1 / (4 * Double.pi * Double.pi), c = 5 / Double.pi, t = 1 / (8 * Double.pi)
                return pow(x[1] - b * x[0] * x[0] + c * x[0] - 6, 2) + 10 * (1 - t) * cos(x[0]) + 10
            }
        case "hartmann6":
            let alpha = [1.0, 1.2, 3.0, 3.2]
            let a: [[Double]] = [
                [10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14],
            ]
            let p: [[Double]] = [
                [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886], [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
                [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650], [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
            ]
            return TestFunction(bounds: Array(repeating: (0, 1), count: 6), maximize: true) { x in
                var total = 0.0
                for i in 0..<4 {
                    var exponent = 0.0
                    for j in 0..<6 { exponent += a[i][j] * (x[j] - p[i][j]) * (x[j] - p[i][j]) }
                    total += alpha[i] * exp(-exponent)
                }
                return total
            }
        case "rosenbrock4":
            // z = max(1, √d / 8)·(x − x*) + 1, and max(1, √4 / 8) = 1.
            let optimum = [1.2, -0.7, 0.4, -1.9]
            return TestFunction(bounds: Array(repeating: (-5, 5), count: 4), maximize: false) { x in
                var total = 0.0
                for i in 0..<3 {
                    let z = x[i] - optimum[i] + 1, next = x[i + 1] - optimum[i + 1] + 1
                    total += 100 * (z * z - next) * (z * z - next) + (z - 1) * (z - 1)
                }
                return total
            }
        default:  // ellipsoid5
            let optimum = [2.1, -1.3, 0.7, -3.2, 1.5]
            return TestFunction(bounds: Array(repeating: (-5, 5), count: 5), maximize: false) { x in
                var total = 0.0
                for i in 0..<5 {
                    let weight: Double = pow(10, 6 * Double(i) / 4)
                    total += weight * (x[i] - optimum[i]) * (x[i] - optimum[i])
                }
                return total
            }
        }
    }
}

/// A program sweep over x0…x(d−1) optimising a test function (never run as a program).
func functionController(_ function: TestFunction, method: String, seed: Int, count: Int) throws -> TrialController {
    let parameters = function.bounds.enumerated().map {
        "  x\($0.offset): {distribution: uniform, min: \($0.element.0), max: \($0.element.1)}"
    }
    let text = """
        name: function-bench
        program: {dir: /nonexistent, command: [none]}
        dataset: none
        metric: {name: valid_f, goal: \(function.maximize ? "maximize" : "minimize")}
        method: \(method)
        count: \(count)
        seed: \(seed)
        parameters:
        \(parameters.joined(separator: "\n"))

        """
    let controller = try TrialController(spec: try SweepSpec.parseStored(text), store: try SweepStore.inMemory(), trainExamples: 1)
    _ = try controller.applyPlan(fingerprint: "bench", popularity: nil)
    try controller.store.recordWorker(name: "w", host: "h", cores: 1, blasThreads: 1, blasCore: "none", state: .online)
    return controller
}

/// Evaluates a claimed trial on the function and tells its result; returns the value.
func tellFunction(_ controller: TrialController, _ function: TestFunction, claim: Claim) throws -> Double {
    let keys = try claim.config().programKeys ?? [:]
    let value = function.value(function.bounds.indices.map { keys["x\($0)"]?.number ?? 0 })
    try tellProgramResult(controller, claim: claim, metrics: ["f": value])
    return value
}

/// Asks for trials until the sweep has none, telling each with `tell`; returns the seconds each ask
/// took once `stored` trials were stored, sorted.
func askSeconds(_ sweep: TrialController, after stored: Int, tell: (Claim) throws -> Void) throws -> [Double] {
    var seconds: [Double] = [], lease = 0
    while true {
        lease += 1
        let start = DispatchTime.now()
        guard case .trial(let claim) = try sweep.ask(worker: "w", lease: "L\(lease)") else { break }
        if lease > stored { seconds.append(Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9) }
        try tell(claim)
    }
    return seconds.sorted()
}

func argument(_ name: String, _ fallback: String) -> String {
    CommandLine.arguments.firstIndex(of: name).map { CommandLine.arguments[$0 + 1] } ?? fallback
}

let mode = CommandLine.arguments.dropFirst().first ?? ""
switch mode {
case "analytic":
    let method = CommandLine.arguments.firstIndex(of: "--method").map { CommandLine.arguments[$0 + 1] } ?? "tpe"
    let trials = option("--trials", 40)
    for seed in 0..<option("--seeds", 10) {
        let sweep = try controller(method: method, seed: seed, count: trials)
        var values: [Double] = []
        while case .trial(let claim) = try sweep.ask(worker: "w", lease: "L\(values.count)") {
            let value = analytic(try claim.config())
            try report(sweep, lease: claim.lease, value: value)
            values.append(value)
        }
        try printJSON(["seed": seed, "values": values])
    }
case "latency":
    let stored = option("--stored", 1000), asks = option("--asks", 20)
    let sweep = try controller(method: "tpe", seed: 0, count: stored + asks)
    let seconds = try askSeconds(sweep, after: stored) { try report(sweep, lease: $0.lease, value: analytic(try $0.config())) }
    try printJSON(["stored": stored, "median_seconds": seconds[seconds.count / 2], "asks": seconds.count])
case "importance":
    // PED-ANOVA over N completed random-search trials of the loss-search space, read from the store.
    let stored = option("--trials", 10_000)
    let sweep = try controller(method: "random", seed: 0, count: stored)
    var lease = 0
    while case .trial(let claim) = try sweep.ask(worker: "w", lease: "L\(lease)") {
        lease += 1
        try report(sweep, lease: claim.lease, value: analytic(try claim.config()))
    }
    var read: [Double] = [], computed: [Double] = []
    for _ in 0..<option("--repeats", 5) {
        let start = DispatchTime.now()
        let trials = try sweep.store.trials()
        let middle = DispatchTime.now()
        _ = ParameterImportance.of(spec: sweep.spec, objective: sweep.spec.ranking.primary, trials: trials)
        let end = DispatchTime.now()
        read.append(Double(middle.uptimeNanoseconds - start.uptimeNanoseconds) / 1e9)
        computed.append(Double(end.uptimeNanoseconds - middle.uptimeNanoseconds) / 1e9)
    }
    try printJSON([
        "trials": stored, "median_read_seconds": read.sorted()[read.count / 2],
        "median_importance_seconds": computed.sorted()[computed.count / 2],
        "parameters": sweep.spec.parameters.count,
    ])
case "pareto":
    let problem = argument("--problem", "zdt1"), method = argument("--method", "nsga2"), trials = option("--trials", 100)
    for seed in 0..<option("--seeds", 30) {
        let sweep = try paretoController(problem: problem, method: method, seed: seed, count: trials)
        var points: [[Double]] = []
        while case .trial(let claim) = try sweep.ask(worker: "w", lease: "L\(points.count)") {
            points.append(try tellPareto(sweep, problem: problem, claim: claim))
        }
        try printJSON(["seed": seed, "points": points])
    }
case "functions":
    let function = TestFunction.named(argument("--problem", "branin")), method = argument("--method", "gp")
    let trials = option("--trials", 60)
    for seed in 0..<option("--seeds", 20) {
        let sweep = try functionController(function, method: method, seed: seed, count: trials)
        var values: [Double] = [], seconds: [Double] = []
        while true {
            let start = DispatchTime.now()
            guard case .trial(let claim) = try sweep.ask(worker: "w", lease: "L\(values.count)") else { break }
            seconds.append(Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9)
            values.append(try tellFunction(sweep, function, claim: claim))
        }
        try printJSON(["seed": seed, "values": values, "ask_seconds": seconds])
    }
case "gp-latency":
    // Hartmann-6, or with --problem one of pareto's problems (several objectives: log EHVI).
    let problem = argument("--problem", "hartmann6"), stored = option("--stored", 1000), asks = option("--asks", 5)
    let isPareto = problem != "hartmann6"
    func controller(_ method: String, count: Int) throws -> TrialController {
        isPareto
            ? try paretoController(problem: problem, method: method, seed: 0, count: count)
            : try functionController(TestFunction.named(problem), method: method, seed: 0, count: count)
    }
    // The stored trials are random search's (a GP sweep of 1,000 would take its own minutes to make).
    let random = try controller("random", count: stored)
    var lease = 0
    while case .trial(let claim) = try random.ask(worker: "w", lease: "L\(lease)") {
        lease += 1
        if isPareto {
            _ = try tellPareto(random, problem: problem, claim: claim)
        } else {
            _ = try tellFunction(random, TestFunction.named(problem), claim: claim)
        }
    }
    let observations = try random.store.trials().compactMap { trial -> Observation? in
        guard let result = trial.result, let scores = random.spec.ranking.scores(result.valid) else { return nil }
        return Observation(order: trial.number, config: trial.config, outcome: .completed(scores))
    }
    let gp = try controller("gp", count: stored + asks)
    var proposing: [Double] = []
    for ask in 0..<asks {
        let start = DispatchTime.now()
        _ = gp.sampler.propose(index: observations.count + ask, observations: observations, isTaken: { _ in false })
        proposing.append(Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9)
    }
    proposing.sort()
    try printJSON([
        "stored": observations.count, "sampler_median_seconds": proposing[proposing.count / 2], "asks": asks,
        "front": Pareto.fronts(
            observations.compactMap { observation -> [Double]? in
                guard case .completed(let scores) = observation.outcome else { return nil }
                return scores
            }
        ).filter { $0 == 1 }.count,
    ])
case "pareto-latency":
    let problem = argument("--problem", "zdt1"), method = argument("--method", "nsga2")
    let stored = option("--stored", 1000), asks = option("--asks", 20)
    let sweep = try paretoController(problem: problem, method: method, seed: 0, count: stored + asks)
    let seconds = try askSeconds(sweep, after: stored) { _ = try tellPareto(sweep, problem: problem, claim: $0) }
    // The sampler alone, on the same finished trials (each its own config, seed 0): the proposal
    // without the store's read of new results, its write of the proposal and the claim.
    let observations = try sweep.store.trials().compactMap { trial -> Observation? in
        guard let result = trial.result, let scores = sweep.spec.ranking.scores(result.valid) else { return nil }
        return Observation(order: trial.number, config: trial.config, outcome: .completed(scores))
    }
    var proposing: [Double] = []
    for ask in 0..<asks {
        let start = DispatchTime.now()
        _ = sweep.sampler.propose(index: observations.count + ask, observations: observations, isTaken: { _ in false })
        proposing.append(Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9)
    }
    proposing.sort()
    try printJSON([
        "stored": stored, "median_seconds": seconds[seconds.count / 2], "asks": seconds.count,
        "sampler_median_seconds": proposing[proposing.count / 2],
    ])
default:
    FileHandle.standardError.write(
        Data(
            "usage: sweep-bench-tpe analytic --method tpe|random [--seeds N] [--trials N] | latency [--stored N] [--asks N] | importance [--trials N] [--repeats N] | pareto --problem P --method M [--seeds N] [--trials N] | pareto-latency --problem P --method M [--stored N] [--asks N] | functions --problem F --method M [--seeds N] [--trials N] | gp-latency [--problem F|P] [--stored N] [--asks N]\n"
                .utf8))
    exit(64)
}
