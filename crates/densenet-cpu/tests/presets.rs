//! Parameter counts of every preset (design.md's table) and config validation.

use densenet_core::{DenseNetConfig, Error, PRESET_NAMES};

fn count(name: &str, classes: usize) -> usize {
    let mut cfg = DenseNetConfig::preset(name).unwrap();
    cfg.num_classes = classes;
    densenet_core::plan::Plan::new(&cfg).parameter_count()
}

#[test]
fn parameter_counts_match_the_paper() {
    let table = [
        ("densenet-40", 10, 1_019_722),
        ("densenet-100", 10, 6_979_642),
        ("densenet-100-k24", 10, 27_249_082),
        ("densenet-bc-100", 10, 769_162),
        ("densenet-bc-250", 10, 15_324_406),
        ("densenet-bc-190", 10, 25_624_430),
        ("densenet121", 1000, 7_978_856),
        ("densenet161", 1000, 28_681_000),
        ("densenet169", 1000, 14_149_480),
        ("densenet201", 1000, 20_013_928),
        ("densenet264", 1000, 33_337_704),
    ];
    assert_eq!(table.len(), PRESET_NAMES.len());
    for (name, classes, expected) in table {
        assert_eq!(count(name, classes), expected, "{name}");
    }
}

fn config_error(json: &str) -> String {
    match DenseNetConfig::from_json(json) {
        Err(Error::Config(m)) => m,
        other => panic!("expected a config error for {json}, got {other:?}"),
    }
}

#[test]
fn invalid_configs_name_the_field() {
    let base = |patch: &str| format!(r#"{{"growthRate":12,"blockConfig":[4,4],"numInitFeatures":24{patch}}}"#);
    assert!(config_error(&base(r#","compression":0"#)).contains("compression must be in (0, 1]"));
    assert!(config_error(&base(r#","compression":1.5"#)).contains("compression"));
    assert!(config_error(&base(r#","dropRate":1"#)).contains("dropRate"));
    assert!(config_error(r#"{"growthRate":0,"blockConfig":[4],"numInitFeatures":8}"#).contains("growthRate must be > 0"));
    assert!(config_error(r#"{"growthRate":4,"blockConfig":[],"numInitFeatures":8}"#).contains("blockConfig"));
    assert!(config_error(&base(r#","bogus":1"#)).contains("bogus"));
    let e = DenseNetConfig::cifar(41, 12, false, 10).unwrap_err().to_string();
    assert!(e.contains("3n+4") && e.contains("41"), "{e}");
    let e = DenseNetConfig::cifar(42, 12, true, 10).unwrap_err().to_string();
    assert!(e.contains("6n+4"), "{e}");
    let e = DenseNetConfig::preset("densenet-7").unwrap_err().to_string();
    assert!(e.contains("unknown preset 'densenet-7'") && e.contains("densenet121") && e.contains("densenet-bc-190"), "{e}");
}

#[test]
fn presets_round_trip_through_json() {
    for name in PRESET_NAMES {
        let cfg = DenseNetConfig::preset(name).unwrap();
        assert_eq!(DenseNetConfig::from_json(&cfg.to_json()).unwrap(), cfg);
    }
}

/// The bound check's parameter count (computed before anything is allocated) equals the plan's.
#[test]
fn parameter_estimate_equals_the_plan() {
    let mut configs: Vec<DenseNetConfig> = densenet_core::PRESET_NAMES.iter().map(|n| DenseNetConfig::preset(n).unwrap()).collect();
    configs.push(
        DenseNetConfig::from_json(r#"{"growthRate":7,"blockConfig":[3,5],"numInitFeatures":9,"bottleneck":false,"compression":0.7,"numClasses":13,"inChannels":1}"#).unwrap(),
    );
    configs.push(DenseNetConfig::from_json(r#"{"growthRate":5,"blockConfig":[2,1,4],"numInitFeatures":11,"bnSize":3,"numClasses":2,"smallInputs":true}"#).unwrap());
    for c in configs {
        assert_eq!(c.parameter_count_estimate(), densenet_core::plan::Plan::new(&c).parameter_count() as u128, "{}", c.to_json());
    }
}

/// Absurd sizes are refused before any allocation, naming the field and the bound.
#[test]
fn absurd_configs_are_refused_naming_the_field() {
    let base = r#""blockConfig":[6,12,24,16],"numInitFeatures":64"#;
    for (json, field) in [
        (format!(r#"{{"growthRate":1000000000,{base}}}"#), "growthRate must be <= 4096"),
        (r#"{"growthRate":32,"blockConfig":[1000000],"numInitFeatures":64}"#.to_string(), "blockConfig must be layer counts <= 10000"),
        (format!(r#"{{"growthRate":32,{base},"numClasses":10000000000}}"#), "numClasses must be <= 1000000"),
        (r#"{"growthRate":4096,"blockConfig":[100,100,100],"numInitFeatures":64}"#.to_string(), "parameters"),
    ] {
        let e = DenseNetConfig::from_json(&json).unwrap_err();
        assert_eq!(e.code(), "ERR_INVALID_CONFIG");
        assert!(e.message().contains(field), "{json}: {e}");
    }
}
