//! Notice templates from the command line: `incident templates dump`, a deployment's own
//! template in `[incident] templates_dir` used by `incident export`, and a broken one
//! refused by `check-config` with its file and line.

use crate::support::*;

/// A user notice in German, from a template a legal team edited.
const GERMAN: &str = "# Benachrichtigung über eine Datenpanne\n\n\
**{{ organisation.name or to_complete(\"Name der Organisation\") }}**\n\n\
Datum: {{ generated_at | date(locale=\"de\") }}\n\n\
Betroffene Personen: {{ people | number(locale=\"de\") }}\n\
Zeitraum: {{ data_from | date(locale=\"de\", style=\"short\") }} bis {{ data_to | date(locale=\"de\", style=\"short\") }}\n";

#[test]
fn a_deployments_templates_are_dumped_checked_and_used_by_the_export() {
    let dir = TempDir::new("notices");
    let notices = dir.path().join("notices");
    let notices_s = notices.to_str().unwrap();

    let (code, out, err) = cli(&["incident", "templates", "dump", notices_s]);
    assert_eq!(code, 0, "{out}{err}");
    let mut written: Vec<String> = std::fs::read_dir(&notices)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    written.sort();
    assert_eq!(written, ["regulator-notice.md", "report.md", "user-notice.md"]);
    assert!(out.contains("wrote 3 templates"), "{out}");

    // A second dump would overwrite them: refused unless forced.
    std::fs::write(notices.join("user-notice.md"), GERMAN).unwrap();
    let (code, _, err) = cli(&["incident", "templates", "dump", notices_s]);
    assert_ne!(code, 0);
    assert!(err.contains("already exists (use --force to overwrite)"), "{err}");
    assert_eq!(std::fs::read_to_string(notices.join("user-notice.md")).unwrap(), GERMAN);

    let options = Options {
        extra_destination: "\n[incident]\norganisation = \"Beispiel GmbH\"\ntemplates_dir = \"notices\"\n".into(),
        ..Options::default()
    };
    let cfg = write_config(dir.path(), "http://127.0.0.1:9", &options);
    let cfg_s = cfg.to_str().unwrap();
    let (code, out, err) = cli(&["check-config", "--config", cfg_s]);
    assert_eq!(code, 0, "{out}{err}");

    let (code, out, err) = cli(&[
        "incident",
        "open",
        "--destination",
        "mixpanel",
        "--from",
        "2025-11-08",
        "--to",
        "2025-11-09",
        "--data-from",
        "2025-08-10",
        "--data-to",
        "2025-11-09",
        "--config",
        cfg_s,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let id = out.lines().next().unwrap().trim().to_owned();
    let export = dir.path().join("export");
    let (code, out, err) = cli(&[
        "incident",
        "export",
        &id,
        "--out",
        export.to_str().unwrap(),
        "--config",
        cfg_s,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let notice = std::fs::read_to_string(export.join("user-notice.md")).unwrap();
    let lines: Vec<&str> = notice.lines().collect();
    assert_eq!(lines[0], "# Benachrichtigung über eine Datenpanne");
    assert!(lines.contains(&"**Beispiel GmbH**"), "{notice}");
    assert!(lines.contains(&"Betroffene Personen: 0"), "{notice}");
    assert!(lines.contains(&"Zeitraum: 10.08.2025 bis 09.11.2025"), "{notice}");
    let date = lines.iter().find(|l| l.starts_with("Datum: ")).unwrap();
    assert!(date.ends_with(char::is_numeric) && date.contains(". "), "{date}");
    // The documents not replaced keep their built-in templates.
    let report = std::fs::read_to_string(export.join("report.md")).unwrap();
    assert!(
        report
            .lines()
            .any(|l| l == "- Data range: from 2025-08-10T00:00:00Z to 2025-11-09T23:59:59Z"),
        "{report}"
    );
    let regulator = std::fs::read_to_string(export.join("regulator-notice.md")).unwrap();
    assert!(regulator.starts_with("# Personal data breach notification (GDPR Art. 33): draft\n"));

    // A template that does not parse: check-config names the file and the line, and the
    // export refuses to run on that configuration.
    std::fs::write(notices.join("regulator-notice.md"), "# Draft\n{% for s in sources %}\n").unwrap();
    let (code, out, err) = cli(&["check-config", "--config", cfg_s]);
    assert_ne!(code, 0, "{out}");
    let path = notices.join("regulator-notice.md");
    assert!(
        err.contains(&format!("template {}, line 2: syntax error", path.display())),
        "{err}"
    );
    assert!(err.contains("incident.templates_dir"), "{err}");
    let again = dir.path().join("again");
    let (code, _, _) = cli(&[
        "incident",
        "export",
        &id,
        "--out",
        again.to_str().unwrap(),
        "--config",
        cfg_s,
    ]);
    assert_ne!(code, 0);
    assert!(!again.join("regulator-notice.md").exists());

    // Forced, the dump restores the defaults, and the configuration loads again.
    let (code, out, err) = cli(&["incident", "templates", "dump", "--force", notices_s]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = cli(&["check-config", "--config", cfg_s]);
    assert_eq!(code, 0, "{out}{err}");
}
