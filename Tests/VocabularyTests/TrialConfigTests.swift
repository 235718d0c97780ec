import Foundation
import Testing

@testable import Vocabulary

@Suite struct TrialConfigTests {
    func rejection(_ yaml: String) -> ConfigError? {
        do {
            _ = try TrialConfig.parse(yaml: yaml)
            return nil
        } catch {
            return error as? ConfigError
        }
    }

    @Test func defaultsAndActiveKeys() throws {
        let config = try TrialConfig.parse(yaml: "{}")
        #expect(config == TrialConfig())
        #expect(
            config.activeValues.map(\.key) == [
                "loss", "pos_weight_mult", "rnn", "multitask", "dropout", "lr",
                "batch_size", "epochs", "seed", "select_metric",
            ])
        let focal = try TrialConfig.parse(yaml: "loss: focal\nfocal_gamma: 0\nlr: 1e-3\nepochs: 3")
        #expect(focal.focalGamma == 0 && focal.focalAlpha == 0.25 && focal.epochs == 3)
        #expect(focal.activeDictionary["focal_alpha"] == .double(0.25))
        #expect(focal.activeDictionary["pos_weight_mult"] == nil)
        let json = try TrialConfig.parse(yaml: #"{"loss": "class_balanced", "cb_beta": 0.99, "seed": 4}"#)
        #expect(json.cbBeta == 0.99 && json.seed == 4)
        #expect(json.jsonText().contains("\"cb_beta\":0.99"))
    }

    /// The values by position agree with the values by name, key by key, under every activity
    /// rule (each loss, balancer, the prior alone, both priors, a program config).
    @Test func activeValuesByPositionAgreeWithTheNamedOnes() throws {
        var configs: [TrialConfig] = []
        for loss in TrialConfig.Loss.allCases {
            for balancer in TrialConfig.Balancer.allCases {
                var config = TrialConfig()
                (config.loss, config.multitask, config.balancer, config.lr) = (loss, true, balancer, 0.003)
                configs.append(config)
            }
        }
        var prior = TrialConfig()
        (prior.model, prior.cooc, prior.knnK, prior.knnPower, prior.hidden) = (.none, .dialogue, 20, 4, 256)
        configs.append(prior)
        var both = prior
        (both.model, both.weightDecay, both.ldamScale) = (.ffn, 1e-4, 2)
        configs.append(both)
        for config in configs {
            let named = config.activeDictionary, positioned = config.activeValuesByPosition
            #expect(positioned.count == TrialConfig.keys.count)
            for (position, key) in TrialConfig.keys.enumerated() {
                #expect(positioned[position]?.description == named[key]?.description, "\(key) of \(config.jsonText())")
            }
        }
        #expect(TrialConfig(programKeys: ["depth": .int(3)], seed: 0, selectMetric: "acc").activeValuesByPosition.isEmpty)
    }

    @Test func rejectionsNameTheKey() {
        let cases: [(String, String, String)] = [
            ("lr: 0", "lr", "must be > 0, got 0.0"),
            ("lr: -1", "lr", "must be > 0, got -1.0"),
            ("dropout: 1", "dropout", "must be in [0, 1), got 1.0"),
            ("pos_weight_mult: 0", "pos_weight_mult", "must be > 0, got 0.0"),
            ("loss: focal\nfocal_gamma: -0.5", "focal_gamma", "must be ≥ 0, got -0.5"),
            ("loss: focal\nfocal_alpha: 1.5", "focal_alpha", "must be in [0, 1], or < 0 to disable, got 1.5"),
            ("loss: class_balanced\ncb_beta: 1", "cb_beta", "must be in [0, 1), got 1.0"),
            ("batch_size: 0", "batch_size", "must be ≥ 1, got 0"),
            ("epochs: 2.5", "epochs", "must be an integer, got 2.5"),
            ("rnn: 1", "rnn", "must be true or false, got 1"),
            ("loss: hinge", "loss", "must be one of bce, weighted_bce, focal, class_balanced, ldam, got hinge"),
            (
                "select_metric: ndcg@20", "select_metric",
                "must be one of ndcg@10, recall@10, recall@50, mrr, coverage@10, pop_overlap@10, got ndcg@20"
            ),
            (
                "loss: bce\npos_weight_mult: 2", "pos_weight_mult",
                "is set but only used with loss: weighted_bce, so it would change nothing"
            ),
            ("alpha: 0.1", "alpha", "is set but only used with multitask: true and balancer: fixed, so it would change nothing"),
            (
                "multitask: true\nbalancer: gradnorm\nalpha: 0.1", "alpha",
                "is set but only used with multitask: true and balancer: fixed, so it would change nothing"
            ),
            ("dwa_temp: 2", "dwa_temp", "is set but only used with multitask: true and balancer: dwa, so it would change nothing"),
            ("lr: .nan", "lr", "must be a finite number, got nan"),
        ]
        for (yaml, key, message) in cases {
            #expect(rejection(yaml) == ConfigError(key: key, message: message), "\(yaml)")
        }
        let unknown = rejection("learning_rate: 0.1")
        #expect(unknown?.key == "learning_rate")
        #expect(unknown?.message.hasPrefix("unknown key (did you mean") == true)
        #expect(rejection("focal_gama: 1")?.message.hasPrefix("unknown key (did you mean 'focal_gamma'?)") == true)
        #expect(rejection("- a list")?.key == "(document)")
        #expect(rejection("lr: [1, 2]") == ConfigError(key: "lr", message: "must be a scalar (number, boolean or name)"))
    }

    @Test func commandLineValuesParseAsYAMLScalars() {
        #expect(ConfigValue(parsing: "1e-3") == .double(0.001))
        #expect(ConfigValue(parsing: "32") == .int(32))
        #expect(ConfigValue(parsing: "true") == .bool(true))
        #expect(ConfigValue(parsing: "focal") == .string("focal"))
    }

    @Test func trialFileRoundTrip() throws {
        var config = TrialConfig()
        config.loss = .focal
        config.focalGamma = 1.5
        config.epochs = 4
        let file = TrialFile(config: config, dataset: .path("/data/redial"), fingerprint: String(repeating: "a", count: 64), threads: 2)
        let base = URL(fileURLWithPath: "/elsewhere")
        #expect(try TrialFile.parse(ConfigDocument(text: file.yamlText()), baseDirectory: base) == file)
        #expect(try TrialFile.parse(ConfigDocument(text: file.jsonText()), baseDirectory: base) == file)
        let synthetic = TrialFile(
            config: config, dataset: .synthetic(preset: "small", seed: 7), fingerprint: String(repeating: "b", count: 64), threads: 1)
        #expect(try TrialFile.parse(ConfigDocument(text: synthetic.yamlText()), baseDirectory: base) == synthetic)
        // A relative dataset path is relative to the trial file's folder.
        let relative = try TrialFile.parse(
            ConfigDocument(text: "trial: {}\ndataset: {path: ../data, fingerprint: \(String(repeating: "c", count: 64))}\n"),
            baseDirectory: URL(fileURLWithPath: "/work/exports"))
        #expect(relative.dataset == .path("/work/data"))
        #expect(throws: ConfigError.self) {
            try TrialFile.parse(ConfigDocument(text: "{trial: {}, dataset: {path: /x}}"), baseDirectory: base)
        }
        #expect(throws: ConfigError(key: "extra", message: "unknown trial-file key; expected trial, dataset, threads, program, function")) {
            try TrialFile.parse(ConfigDocument(text: "{trial: {}, extra: 1}"), baseDirectory: base)
        }
    }

    /// A trial file reads its fields strictly (a wrong type is an error naming the field, not a
    /// default), keeps texts YAML would read as numbers as texts, and applies `--set` overrides
    /// before the config is checked.
    @Test func trialFileFieldsAreReadStrictly() throws {
        let base = URL(fileURLWithPath: "/work/exports")
        let fingerprint = String(repeating: "d", count: 64)
        func parse(_ text: String, overrides: [String: ConfigValue] = [:]) throws -> TrialFile {
            try TrialFile.parse(ConfigDocument(text: text), baseDirectory: base, overrides: overrides)
        }
        #expect(throws: ConfigError(key: "threads", message: "must be an integer ≥ 1")) {
            try parse("{trial: {}, dataset: {path: /d, fingerprint: \(fingerprint)}, threads: two}")
        }
        #expect(throws: ConfigError(key: "dataset.synthetic.seed", message: "must be an integer ≥ 0")) {
            try parse("{trial: {}, dataset: {synthetic: {preset: small, seed: 1.5}, fingerprint: \(fingerprint)}}")
        }
        #expect(try parse("{trial: {}, dataset: {path: 2024, fingerprint: \(fingerprint)}}").dataset == .path("/work/exports/2024"))
        let overridden = try parse(
            "{trial: {loss: focal, epochs: 3}, dataset: {path: /d, fingerprint: \(fingerprint)}}", overrides: ["focal_gamma": .double(1.5)])
        #expect(overridden.config.focalGamma == 1.5 && overridden.config.epochs == 3)
        #expect(throws: ConfigError.self) {
            try parse("{trial: {loss: bce}, dataset: {path: /d, fingerprint: \(fingerprint)}}", overrides: ["focal_gamma": .double(1.5)])
        }
        #expect(throws: ConfigError(key: "(document)", message: "must be a mapping of config keys")) { try ConfigDocument(text: "- lr") }
        #expect(throws: ConfigError(key: "lr", message: "must be a scalar (number, boolean or name)")) {
            try ConfigDocument(text: "lr: [1, 2]").values()
        }
        #expect(throws: ConfigError(key: "lr", message: "must be a finite number, got inf")) {
            try ConfigDocument(text: "lr: .inf").values()
        }
    }

    /// The hand reader of stored configs agrees with JSONDecoder on what it reads, and leaves
    /// everything it is not sure of (escapes, duplicate keys, 0.00e1) to JSONDecoder.
    @Test func storedConfigsReadByHandAsJSONDecoderReadsThem() throws {
        func byHand(_ text: String) -> [String: ConfigValue]? { JSONByteReader.read(text) { $0.members { $0.configValue() } } }
        func byDecoder(_ text: String) throws -> [String: ConfigValue] {
            try JSONDecoder().decode([String: ConfigValue].self, from: Data(text.utf8))
        }
        var config = TrialConfig()
        config.loss = .focal
        config.lr = 0.00001  // written with an exponent
        config.focalGamma = 2
        config.multitask = true
        for stored in [TrialConfig().jsonText(), config.jsonText()] {
            #expect(byHand(stored) != nil)
            #expect(try byHand(stored) == byDecoder(stored))
            #expect(try TrialConfig.parse(json: stored) == TrialConfig.parse(byDecoder(stored)))
        }
        let mixed = #"{"a":2.0,"b":-0.5,"c":"x","d":true,"e":1e-05,"f":12, "g" : 12345678901234567890}"#
        #expect(
            byHand(mixed) == [
                "a": .int(2), "b": .double(-0.5), "c": .string("x"), "d": .bool(true), "e": .double(1e-05), "f": .int(12),
                "g": .double(1.2345678901234567e19),
            ])
        #expect(try byHand(mixed) == byDecoder(mixed))
        #expect(try TrialConfig.parse(json: #"{"epochs":3.0}"#).epochs == 3, "an integral number is an Int, as JSONDecoder reads it")
        for refused in [
            #"{"a":"x\"y"}"#, #"{"a":1,"a":2}"#, #"{"a":0.00e1}"#, #"{"a":01}"#, #"{"a":nan}"#, #"{"a":1,}"#, #"{"a":null}"#,
            "[1]", "{", #"{"a":1} x"#,
        ] {
            #expect(byHand(refused) == nil, "\(refused)")
        }
        #expect(byHand("{}") == [:])
        #expect(try TrialConfig.parse(json: #"{"loss":"foc\u0061l"}"#).loss == .focal, "an escape is JSONDecoder's to read")
    }
}

/// The one JSON string escaper: its exact output is part of every trial id (a program key's string
/// value is hashed as written), and whatever it writes reads back as the same text.
@Suite struct CanonicalJSONTests {
    @Test func theEscapesArePinnedAndEveryStringReadsBack() throws {
        #expect(CanonicalJSON.string("a\"b\\c\nd\te\u{1}é✓") == #""a\"b\\c\nd\u0009e\u0001é✓""#)
        let every = String(String.UnicodeScalarView((0..<0x80).compactMap(Unicode.Scalar.init))) + "ünïcödé 🎛"
        let decoded = try JSONDecoder().decode(String.self, from: Data(CanonicalJSON.string(every).utf8))
        #expect(decoded == every)
    }
}

/// `sweep export --format json` writes a program trial file that reads back as the same file (the
/// built-in one is read back in `TrialConfigTests`).
@Suite struct TrialFileTests {
    @Test func aProgramTrialFileWrittenAsJSONReadsBackTheSame() throws {
        let file = TrialFile(
            config: try TrialConfig.parse([
                "program": .bool(true), "epochs": .int(3), "width": .string("wide/ish"), "select_metric": .string("accuracy"),
            ]),
            dataset: .path("/data/x"), fingerprint: String(repeating: "cd", count: 32), threads: 1,
            program: TrialProgram(
                directory: "/programs/fit", fingerprint: String(repeating: "ef", count: 32),
                command: ProgramCommand(command: ["python3", "fit.py", "{out}"], config: .json, env: ["CUDA_VISIBLE_DEVICES", "A=b"])))
        let text = try file.jsonText()
        #expect(text.contains("\"dir\" : \"/programs/fit\""), "slashes as they are")
        #expect(try TrialFile.parse(try ConfigDocument(text: text), baseDirectory: URL(fileURLWithPath: "/elsewhere")) == file)
    }
}
