//! The documents `vendorwall incident export` writes, as pure functions of a [`Report`].
//!
//! - [`report_markdown`] → `report.md`: every figure of the revision, for the incident team.
//! - [`regulator_notice`] → `regulator-notice.md`: a draft GDPR Art. 33 notification laid
//!   out as `domain.md` §2.7, initial phase.
//! - [`user_notice`] → `user-notice.md`: the California "Notice of Data Breach" with its five
//!   headings in order, in plain language (also serves GDPR Art. 34).
//!
//! Drafts are filled with everything the report knows. Everything it cannot know (the
//! attack vector, a risk assessment, counts per country, a missing contact) is left for a
//! person with one marker, `[TO COMPLETE: …]` ([`TO_COMPLETE`]), so a reviewer can search
//! for it and nothing unfinished goes out unnoticed.
//!
//! A `Report` holds counts, category keys, field pointers, dates and organisation details
//! from the config, and these functions add only fixed text: the documents never contain
//! personal data. Dates are UTC; counts are plain digits (no locale-dependent separators).

use std::fmt::{self, Write};

use super::report::{Deadline, Organisation, Report, TimelineEntry};
use super::time::{MS_PER_HOUR, format_date, format_utc};
use crate::classify::taxonomy::covers;

/// How every item left for a person starts; it ends with `]`.
pub const TO_COMPLETE: &str = "[TO COMPLETE: ";

/// The plain-language label of a Fideslang category key, or the key itself when unknown.
pub fn category_label(key: &str) -> &str {
    match key {
        "user.name" => "name",
        "user.contact" => "contact details",
        "user.contact.email" => "email address",
        "user.contact.phone_number" => "phone number",
        "user.contact.address" => "postal address",
        "user.contact.address.street" => "street address",
        "user.contact.address.city" => "city",
        "user.contact.address.state" => "state or region",
        "user.contact.address.country" => "country",
        "user.contact.address.postal_code" => "postal code",
        "user.location" => "location",
        "user.location.coarse" | "user.location.imprecise" => "approximate location (city, region, country)",
        "user.location.precise" => "precise location (such as GPS coordinates)",
        "user.device" => "device and browser information",
        "user.device.ip_address" => "IP address",
        "user.device.device_id" => "device identifier",
        "user.behavior" => "how you used our service",
        "user.behavior.browsing_history" => "pages visited and referring websites",
        "user.unique_id" | "user.account" => "account and user identifiers",
        "user.account.username" => "username",
        "user.authorization" => "login and access information",
        "user.authorization.credentials" => "passwords, access tokens or keys",
        "user.financial" => "financial information",
        "user.financial.credit_card" => "payment card number",
        "user.financial.bank_account" => "bank account number",
        "user.financial.crypto_wallet" => "cryptocurrency wallet address",
        "user.government_id" => "government-issued identification number",
        "user.government_id.national_identification_number" => {
            "national identification number (such as a Social Security number)"
        }
        "user.government_id.passport_number" => "passport number",
        "user.government_id.drivers_license_number" => "driver's license number",
        "user.demographic" => "demographic information",
        "user.demographic.date_of_birth" => "date of birth",
        "user.demographic.gender" => "gender",
        "user.demographic.age_range" => "age or age range",
        "user.health_and_medical" => "health or medical information",
        "user.content.self_image" => "profile picture",
        _ => key,
    }
}

/// `report.md`: every figure of the revision.
pub fn report_markdown(r: &Report) -> String {
    render(|out| {
        report_header(out, r)?;
        report_categories(out, r)?;
        report_fields(out, r)?;
        report_sources(out, r)?;
        report_held_back(out, r)?;
        report_deadlines(out, &r.deadlines)?;
        report_timeline(out, &r.timeline)
    })
}

/// `regulator-notice.md`: a GDPR Art. 33 draft, initial phase.
pub fn regulator_notice(r: &Report) -> String {
    render(|out| {
        notice_header(out, r)?;
        notice_entity(out, &r.organisation)?;
        notice_contact(out, &r.organisation)?;
        notice_timeline(out, r)?;
        notice_nature(out, r)?;
        notice_subjects(out, r)?;
        notice_records(out, r)?;
        notice_consequences(out, r)?;
        notice_measures(out, r)?;
        notice_communication(out, r)?;
        notice_annexes(out)
    })
}

/// `user-notice.md`: "Notice of Data Breach", the five California headings in order.
pub fn user_notice(r: &Report) -> String {
    render(|out| {
        user_header(out, r)?;
        user_what_happened(out, r)?;
        user_information(out, r)?;
        user_what_we_do(out, r)?;
        user_what_you_can_do(out, r)?;
        user_more_information(out, r)
    })
}

/// Runs a writer into a fresh string. Writing into a `String` cannot fail, so the
/// `fmt::Result` only exists to let the section writers use `?`.
/// The vendor as notices name it: its display name, or the destination's name for revisions
/// written before destinations had vendors.
fn vendor(r: &Report) -> &str {
    if r.vendor.is_empty() { &r.destination } else { &r.vendor }
}

fn render(write: impl FnOnce(&mut String) -> fmt::Result) -> String {
    let mut out = String::new();
    let _ = write(&mut out);
    out
}

// ---------------------------------------------------------------------------------------
// report.md

fn report_header(out: &mut String, r: &Report) -> fmt::Result {
    writeln!(out, "# {}\n", title(r))?;
    writeln!(
        out,
        "Incident `{}`, revision {}. Generated {}.\n",
        r.incident_id,
        r.revision,
        format_utc(r.generated_at_ms)
    )?;
    if r.vendor.is_empty() {
        writeln!(out, "- Destination: {}", r.destination)?;
    } else {
        writeln!(out, "- Destination: {} ({})", r.destination, r.vendor)?;
    }
    writeln!(
        out,
        "- Breach window at the vendor: {}",
        span(r.breach_from_ms, r.breach_to_ms)
    )?;
    writeln!(out, "- Data range: {}", span(r.data_from_ms, r.data_to_ms))?;
    writeln!(out, "- Basis of the data range: {}", or_dash(&r.data_range_basis))?;
    if let Some(days) = r.vendor_retention_days {
        writeln!(out, "- Vendor retention: {days} days")?;
    }
    writeln!(out, "- Affected people: {} distinct (linked ids count once)", r.people)?;
    writeln!(out, "- Records delivered in the data range: {}", r.records)?;
    writeln!(out, "- Distinct ids as the vendor knows them: {}", r.vendor_ids)?;
    writeln!(out, "- First exposure: {}", utc_or_dash(r.first_exposure_ms))?;
    writeln!(out, "- Last exposure: {}", utc_or_dash(r.last_exposure_ms))
}

fn report_categories(out: &mut String, r: &Report) -> fmt::Result {
    writeln!(out, "\n## Categories sent\n")?;
    if r.categories.is_empty() {
        return writeln!(
            out,
            "The vendor received no classified personal data in the data range."
        );
    }
    writeln!(out, "| Category | Key | People | Records | Pseudonym only |")?;
    writeln!(out, "|---|---|---:|---:|---|")?;
    for (key, c) in &r.categories {
        let pseudonym = if c.pseudonymised_only { "yes" } else { "no" };
        let label = cell(category_label(key));
        writeln!(
            out,
            "| {label} | `{}` | {} | {} | {pseudonym} |",
            cell(key),
            c.people,
            c.records
        )?;
    }
    Ok(())
}

fn report_fields(out: &mut String, r: &Report) -> fmt::Result {
    writeln!(out, "\n## Fields sent\n")?;
    if r.fields.is_empty() {
        return writeln!(out, "No fields were recorded.");
    }
    writeln!(out, "| Field | Records |")?;
    writeln!(out, "|---|---:|")?;
    for (pointer, records) in &r.fields {
        writeln!(out, "| `{}` | {records} |", cell(pointer))?;
    }
    Ok(())
}

fn report_sources(out: &mut String, r: &Report) -> fmt::Result {
    writeln!(out, "\n## By source\n")?;
    if r.sources.is_empty() {
        return writeln!(out, "No sources were recorded.");
    }
    writeln!(out, "| Source | People | Records |")?;
    writeln!(out, "|---|---:|---:|")?;
    for (source, s) in &r.sources {
        writeln!(out, "| {} | {} | {} |", cell(source), s.people, s.records)?;
    }
    Ok(())
}

fn report_held_back(out: &mut String, r: &Report) -> fmt::Result {
    writeln!(out, "\n## Held back by the policy\n")?;
    if r.held_back.is_empty() {
        return writeln!(
            out,
            "Nothing was held back: the policy sent every category that came in within the data range."
        );
    }
    writeln!(
        out,
        "Good news: these categories came in from the sources within the data range, but the policy did not send \
         them to {}. The breach did not expose them.\n",
        vendor(r)
    )?;
    writeln!(out, "| Category | Key | Records held back |")?;
    writeln!(out, "|---|---|---:|")?;
    for (key, records) in &r.held_back {
        writeln!(out, "| {} | `{}` | {records} |", cell(category_label(key)), cell(key))?;
    }
    Ok(())
}

fn report_deadlines(out: &mut String, deadlines: &[Deadline]) -> fmt::Result {
    writeln!(out, "\n## Deadline clocks\n")?;
    if deadlines.is_empty() {
        return writeln!(out, "No deadline rules were evaluated.");
    }
    writeln!(out, "| Rule | Recipient | Clock | Starts | Due | Status | Note |")?;
    writeln!(out, "|---|---|---|---|---|---|---|")?;
    for d in deadlines {
        let due = match d.due_at_ms {
            Some(ms) => format_utc(ms),
            None if d.starts_at_ms.is_some() => "without undue delay".into(),
            None => "-".into(),
        };
        let status = if d.status == "overdue" {
            "**overdue**"
        } else {
            d.status.as_str()
        };
        writeln!(
            out,
            "| {} | {} | {} | {} | {due} | {status} | {} |",
            cell(&d.name),
            cell(&d.recipient),
            cell(&d.clock),
            utc_or_dash(d.starts_at_ms),
            cell(&d.note)
        )?;
    }
    Ok(())
}

fn report_timeline(out: &mut String, timeline: &[TimelineEntry]) -> fmt::Result {
    writeln!(out, "\n## Timeline\n")?;
    if timeline.is_empty() {
        return writeln!(out, "Nothing recorded yet.");
    }
    writeln!(out, "| When (UTC) | What | Detail |")?;
    writeln!(out, "|---|---|---|")?;
    for e in timeline {
        writeln!(
            out,
            "| {} | {} | {} |",
            format_utc(e.at_ms),
            cell(&e.kind),
            cell(&e.detail)
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// regulator-notice.md

fn notice_header(out: &mut String, r: &Report) -> fmt::Result {
    writeln!(out, "# Personal data breach notification (GDPR Art. 33): draft\n")?;
    writeln!(
        out,
        "Drafted by vendorwall from its exposure ledger of what was sent to {}. Search for \"TO COMPLETE\": \
         every item marked so needs a person before this is sent. Counts are exact for what we sent; they are \
         the approximate numbers Art. 33(3)(a) asks for.\n",
        vendor(r)
    )?;
    writeln!(
        out,
        "- Phase: initial (Art. 33(4): further information will follow in phases)"
    )?;
    writeln!(out, "- Internal reference: {} (revision {})", r.incident_id, r.revision)?;
    writeln!(out, "- Date of this report: {}", format_utc(r.generated_at_ms))
}

fn notice_entity(out: &mut String, org: &Organisation) -> fmt::Result {
    writeln!(out, "\n## 1. Reporting entity\n")?;
    writeln!(
        out,
        "- Legal name: {}",
        filled(&org.name, "legal name of the organisation")
    )?;
    writeln!(
        out,
        "- Role: controller; the vendor involved processes the data on our behalf"
    )?;
    writeln!(
        out,
        "- Lead supervisory authority: {}",
        filled(&org.lead_authority, "lead supervisory authority")
    )?;
    writeln!(out, "- Main establishment in the EU: {}", todo("main establishment"))?;
    writeln!(
        out,
        "- NIS2 entity class and sector: {}",
        todo("essential / important entity and sector, or not applicable")
    )
}

fn notice_contact(out: &mut String, org: &Organisation) -> fmt::Result {
    writeln!(out, "\n## 2. Contact point\n")?;
    let dpo = if org.dpo_name.is_none() && org.dpo_email.is_none() {
        todo("DPO name and email, or state that no DPO is designated")
    } else {
        format!(
            "{}, {}",
            filled(&org.dpo_name, "DPO name"),
            filled(&org.dpo_email, "DPO email")
        )
    };
    writeln!(out, "- Data protection officer: {dpo}")?;
    writeln!(out, "- Other contact point: {}", contact(org))
}

fn notice_timeline(out: &mut String, r: &Report) -> fmt::Result {
    let f = &r.facts;
    writeln!(out, "\n## 3. Timeline (UTC)\n")?;
    writeln!(
        out,
        "- Breach window at {}: {}",
        vendor(r),
        span(r.breach_from_ms, r.breach_to_ms)
    )?;
    writeln!(
        out,
        "- Personal data exposed: sent to {} {}",
        vendor(r),
        span(r.data_from_ms, r.data_to_ms)
    )?;
    writeln!(
        out,
        "- The vendor detected the breach: {}",
        utc_or_todo(f.vendor_detected_at_ms, "when the vendor detected it")
    )?;
    writeln!(
        out,
        "- The vendor informed us: {}",
        utc_or_todo(f.informed_at_ms, "when the vendor informed us")
    )?;
    writeln!(
        out,
        "- We became aware: {}",
        utc_or_todo(aware_at(r), "when we became aware")
    )?;
    writeln!(out, "- Date of this report: {}", format_utc(r.generated_at_ms))?;
    writeln!(out, "- Reasons for delay: {}", delay(r))
}

/// Art. 33(1): a notification later than 72 hours after awareness gives the reasons.
fn delay(r: &Report) -> String {
    let Some(aware) = aware_at(r) else {
        return todo("reasons for the delay, if this report is more than 72 hours after we became aware");
    };
    let hours = (i128::from(r.generated_at_ms) - i128::from(aware)) / i128::from(MS_PER_HOUR);
    if hours <= 72 {
        return "none needed: this report is within 72 hours of our becoming aware".into();
    }
    let mut reasons = format!("this report is {hours} hours after we became aware. ");
    if let (Some(detected), Some(informed)) = (r.facts.vendor_detected_at_ms, r.facts.informed_at_ms) {
        let days = (i128::from(informed) - i128::from(detected)) / i128::from(MS_PER_HOUR * 24);
        let _ = write!(
            reasons,
            "The vendor informed us {days} days after it detected the breach. "
        );
    }
    reasons + &todo("reasons for the delay")
}

fn notice_nature(out: &mut String, r: &Report) -> fmt::Result {
    writeln!(out, "\n## 4. Nature of the breach\n")?;
    writeln!(
        out,
        "- Type: confidentiality (unauthorised access to personal data held by {})",
        vendor(r)
    )?;
    writeln!(
        out,
        "- Vendor involved: {}, an analytics vendor acting as our processor (Art. 28)",
        vendor(r)
    )?;
    writeln!(
        out,
        "- Vector: {}",
        todo("how the vendor was breached, as the vendor reported it")
    )?;
    writeln!(
        out,
        "- Sub-processors involved: {}",
        todo("the vendor's sub-processors involved, if any")
    )?;
    writeln!(out, "- Unlawful or malicious act suspected: {}", todo("yes / no"))?;
    writeln!(
        out,
        "- Cross-border impact: {}",
        todo("Member States whose residents are affected")
    )
}

fn notice_subjects(out: &mut String, r: &Report) -> fmt::Result {
    writeln!(out, "\n## 5. Data subjects\n")?;
    writeln!(
        out,
        "- Approximate number: {} people (distinct; identifiers we know to be linked count once), known to {} \
         by {} distinct identifiers",
        r.people,
        vendor(r),
        r.vendor_ids
    )?;
    writeln!(
        out,
        "- Categories of data subjects: {}",
        todo("e.g. customers, prospects, employees")
    )?;
    writeln!(
        out,
        "- Data subjects per country: {}",
        todo("approximate counts per country")
    )?;
    if !r.sources.is_empty() {
        writeln!(out, "- By source:")?;
        for (source, s) in &r.sources {
            writeln!(out, "  - {source}: {} people, {} records", s.people, s.records)?;
        }
    }
    Ok(())
}

fn notice_records(out: &mut String, r: &Report) -> fmt::Result {
    writeln!(out, "\n## 6. Personal data records\n")?;
    writeln!(
        out,
        "- Approximate number: {} records sent to {} {}",
        r.records,
        vendor(r),
        span(r.data_from_ms, r.data_to_ms)
    )?;
    if r.categories.is_empty() {
        writeln!(
            out,
            "- Categories: none of the records carried classified personal data"
        )?;
    } else {
        writeln!(out, "\n| Category | Key | People | Records | Sent as |")?;
        writeln!(out, "|---|---|---:|---:|---|")?;
        for (key, c) in &r.categories {
            let sent_as = if c.pseudonymised_only {
                "pseudonym only"
            } else {
                "in clear"
            };
            let label = cell(category_label(key));
            writeln!(
                out,
                "| {label} | `{}` | {} | {} | {sent_as} |",
                cell(key),
                c.people,
                c.records
            )?;
        }
        writeln!(out)?;
    }
    writeln!(out, "- Special categories (Art. 9): {}", special_categories(r))?;
    writeln!(
        out,
        "- Children's data: {}",
        todo("whether children are among the data subjects")
    )?;
    writeln!(
        out,
        "- Credentials, financial or government identification data: {}",
        sensitive(r)
    )
}

fn special_categories(r: &Report) -> String {
    let mut text = if exposed(r, "user.health_and_medical") {
        "yes: health or medical information".to_string()
    } else {
        "none detected by vendorwall's classifier".to_string()
    };
    if exposed(r, "user.behavior.browsing_history") {
        text += &format!(
            "; pages visited can reveal health, sex life or beliefs {}",
            todo("check whether the pages visited reveal special-category data")
        );
    }
    text
}

fn sensitive(r: &Report) -> String {
    let keys: Vec<&str> = r
        .categories
        .keys()
        .map(String::as_str)
        .filter(|k| SENSITIVE.iter().any(|s| covers(s, k)))
        .collect();
    if keys.is_empty() {
        "none".into()
    } else {
        format!("yes: {}", labels(&keys))
    }
}

const SENSITIVE: &[&str] = &["user.authorization.credentials", "user.financial", "user.government_id"];

fn notice_consequences(out: &mut String, r: &Report) -> fmt::Result {
    writeln!(out, "\n## 7. Likely consequences and risk level\n")?;
    let hints = consequences(r);
    if !hints.is_empty() {
        writeln!(
            out,
            "What the categories sent in clear make possible (for the assessment):\n"
        )?;
        for (_, regulator, _) in hints {
            writeln!(out, "- {regulator}")?;
        }
        writeln!(out)?;
    }
    writeln!(
        out,
        "- Likely consequences: {}",
        todo("likely consequences for the data subjects")
    )?;
    writeln!(out, "- Risk level: {}", todo("risk or high risk, with the reasoning"))
}

fn notice_measures(out: &mut String, r: &Report) -> fmt::Result {
    writeln!(out, "\n## 8. Measures taken or proposed\n")?;
    let taken = measures(r);
    if taken.is_empty() {
        writeln!(
            out,
            "- Containment: {}",
            todo("e.g. stop sending data to the vendor, rotate keys, request deletion")
        )?;
    }
    for (entry, measure) in taken {
        writeln!(
            out,
            "- {}: {} ({})",
            format_utc(entry.at_ms),
            measure.regulator,
            entry.detail.trim()
        )?;
    }
    let pseudonymised = pseudonymised_keys(r);
    if pseudonymised.is_empty() {
        writeln!(out, "- Pseudonymisation: no category was sent only as a pseudonym")?;
    } else {
        writeln!(
            out,
            "- Pseudonymisation: sent to {} only as keyed pseudonyms: {}. The key never left our systems, so \
             without it these values cannot be attributed to anyone; this lowers the risk for these categories, as \
             data made unintelligible does under Art. 34(3)(a).",
            vendor(r),
            labels(&pseudonymised)
        )?;
    }
    writeln!(
        out,
        "- Mitigation for individuals: notice with phishing guidance (draft: user-notice.md)"
    )
}

fn notice_communication(out: &mut String, r: &Report) -> fmt::Result {
    writeln!(out, "\n## 9. Communication to data subjects\n")?;
    match r.facts.users_notified_at_ms {
        Some(at) => writeln!(out, "- Sent: {} {}", format_utc(at), todo("channel; attach a copy"))?,
        None => writeln!(
            out,
            "- Status: {}",
            todo("planned (date, channel), or not required with the Art. 34(3) ground")
        )?,
    }
    writeln!(out, "- Draft notice: user-notice.md")
}

fn notice_annexes(out: &mut String) -> fmt::Result {
    writeln!(out, "\n## 10. Annexes\n")?;
    writeln!(
        out,
        "- Exposure report (counts per category, field and source; no personal data): report.md"
    )?;
    writeln!(out, "- Vendor's breach notice: {}", todo("attach the vendor's notice"))
}

// ---------------------------------------------------------------------------------------
// user-notice.md

fn user_header(out: &mut String, r: &Report) -> fmt::Result {
    writeln!(out, "# Notice of Data Breach\n")?;
    writeln!(out, "**{}**\n", filled(&r.organisation.name, "organisation name"))?;
    writeln!(out, "Date of this notice: {}\n", format_date(r.generated_at_ms))?;
    writeln!(out, "Reference: {}", r.incident_id)
}

fn user_what_happened(out: &mut String, r: &Report) -> fmt::Result {
    let dest = vendor(r);
    writeln!(out, "\n## What Happened\n")?;
    writeln!(
        out,
        "We use {dest}, an outside analytics service, to understand how our service is used. {dest} had a \
         security incident {}: someone without permission may have obtained data that {dest} held for us. {}",
        date_span(r.breach_from_ms, r.breach_to_ms),
        todo("one or two plain sentences on what happened at the vendor")
    )?;
    writeln!(
        out,
        "\nOn {}, {dest} discovered the incident; it told us on {}.",
        date_or_todo(r.facts.vendor_detected_at_ms, "date the vendor discovered it"),
        date_or_todo(r.facts.informed_at_ms, "date the vendor told us")
    )?;
    writeln!(
        out,
        "\n{}",
        todo("whether this notice was delayed at the request of law enforcement")
    )
}

fn user_information(out: &mut String, r: &Report) -> fmt::Result {
    let dest = vendor(r);
    writeln!(out, "\n## What Information Was Involved\n")?;
    let sent = sent_labels(r);
    if sent.is_empty() {
        return writeln!(
            out,
            "Our records show no personal information among what we sent to {dest} in this period."
        );
    }
    writeln!(
        out,
        "Our records show exactly what we sent to {dest}. Between {} and {} it included the following, though not \
         every item for every person:\n",
        format_date(r.data_from_ms),
        format_date(r.data_to_ms)
    )?;
    for (label, pseudonym_only) in &sent {
        let coded = if *pseudonym_only { ", only in coded form" } else { "" };
        writeln!(out, "- {label}{coded}")?;
    }
    let coded: Vec<&str> = sent.iter().filter(|(_, p)| *p).map(|(l, _)| *l).collect();
    if !coded.is_empty() {
        writeln!(
            out,
            "\nWe sent your {} only in coded form (a pseudonym): a value that cannot be traced back to you without \
             a key that never left our systems.",
            join_and(&coded)
        )?;
    }
    let hints = consequences(r);
    if !hints.is_empty() {
        writeln!(out, "\nWhat this could mean for you:\n")?;
        for (_, _, user) in hints {
            writeln!(out, "- {user}")?;
        }
    }
    Ok(())
}

fn user_what_we_do(out: &mut String, r: &Report) -> fmt::Result {
    writeln!(out, "\n## What We Are Doing\n")?;
    writeln!(
        out,
        "- We keep a record of what we send to each service provider, so we could tell exactly which kinds of \
         information {} held and whom they concern.",
        vendor(r)
    )?;
    let taken = measures(r);
    if taken.is_empty() {
        writeln!(
            out,
            "- {}",
            todo("what we did to contain the incident and what we will do next")
        )?;
    }
    for (entry, measure) in taken {
        writeln!(
            out,
            "- On {}, {}.",
            format_date(entry.at_ms),
            measure.user.replace("{dest}", vendor(r))
        )?;
    }
    Ok(())
}

fn user_what_you_can_do(out: &mut String, r: &Report) -> fmt::Result {
    writeln!(out, "\n## What You Can Do\n")?;
    let site = match r.organisation.website.as_deref().map(str::trim) {
        Some(site) if !site.is_empty() => format!("by typing {site} yourself"),
        _ => "by typing our address yourself".to_string(),
    };
    writeln!(
        out,
        "- Be careful with emails, text messages and calls that seem to come from us or from {}. Criminals can use \
         information like this to make their messages look genuine.",
        vendor(r)
    )?;
    writeln!(
        out,
        "- We will never ask for your password or a one-time code by email, text message or phone."
    )?;
    writeln!(
        out,
        "- Check the sender's address and where a link really leads before you act. Look-alike domains (an extra \
         letter, a different ending) are a common trick."
    )?;
    writeln!(
        out,
        "- Do not click links or open attachments in messages asking you to verify, unlock or update your account. \
         Go to our website {site} instead."
    )?;
    writeln!(
        out,
        "- Turn on multi-factor authentication (MFA) for your account with us and for your email, and use a \
         different password for every service."
    )?;
    if exposed(r, "user.authorization.credentials") {
        writeln!(
            out,
            "- Change your password with us, and anywhere else you used the same password."
        )?;
    }
    if exposed(r, "user.financial.crypto_wallet") {
        writeln!(
            out,
            "- Never share your wallet's recovery phrase or private key with anyone; we will never ask for them."
        )?;
    }
    if exposed(r, "user.financial") || exposed(r, "user.government_id") {
        identity_theft_guidance(out)?;
    }
    Ok(())
}

/// California: when identification numbers or financial data are involved, point to the
/// credit bureaus and offer identity-theft protection.
fn identity_theft_guidance(out: &mut String) -> fmt::Result {
    writeln!(
        out,
        "- Check your bank and card statements and your credit reports, and report anything you do not recognise. \
         You can get free credit reports at annualcreditreport.com."
    )?;
    writeln!(
        out,
        "- You can place a fraud alert or a security freeze on your credit file with the major credit bureaus: \
         Equifax (equifax.com), Experian (experian.com) and TransUnion (transunion.com). {}",
        todo("toll-free numbers and addresses of the three bureaus, checked on the day of the notice")
    )?;
    writeln!(
        out,
        "- {}",
        todo(
            "our offer of identity theft prevention and mitigation services at no cost for at least 12 months, \
             and how to enrol"
        )
    )
}

fn user_more_information(out: &mut String, r: &Report) -> fmt::Result {
    let org = &r.organisation;
    writeln!(out, "\n## For More Information\n")?;
    writeln!(out, "If you have questions, contact us: {}.", contact(org))?;
    if let Some(email) = present(&org.dpo_email) {
        let name = present(&org.dpo_name).map(|n| format!(", {n},")).unwrap_or_default();
        writeln!(
            out,
            "\nYou can also write to our data protection officer{name} at {email}."
        )?;
    }
    if let Some(site) = present(&org.website) {
        writeln!(out, "\nOur website: {site}")?;
    }
    writeln!(out, "\nPlease quote reference {} when you contact us.", r.incident_id)
}

// ---------------------------------------------------------------------------------------
// Shared pieces

/// A containment measure as the timeline records it.
struct Measure {
    kind: &'static str,
    regulator: &'static str,
    /// Completes "On <date>, …"; `{dest}` is the vendor.
    user: &'static str,
}

const MEASURES: &[Measure] = &[
    Measure {
        kind: "destination_suspended",
        regulator: "stopped sending data to the vendor",
        user: "we stopped sending data to {dest}",
    },
    Measure {
        kind: "key_rotated",
        regulator: "rotated the pseudonymisation key, so new pseudonyms cannot be linked to those the vendor holds",
        user: "we changed the key we use to code identifiers, so new coded values cannot be linked to those \
               {dest} held",
    },
    Measure {
        kind: "deletion_requested",
        regulator: "asked the vendor to delete the data it holds for us",
        user: "we asked {dest} to delete the data it holds for us",
    },
];

fn measures(r: &Report) -> Vec<(&TimelineEntry, &'static Measure)> {
    r.timeline
        .iter()
        .filter_map(|e| MEASURES.iter().find(|m| m.kind == e.kind).map(|m| (e, m)))
        .collect()
}

/// What a category sent in clear makes possible: (category, for the regulator, for people).
const CONSEQUENCES: &[(&str, &str, &str)] = &[
    (
        "user.contact",
        "targeted phishing using real contact details",
        "Someone could use your contact details to send you messages that look like they come from us.",
    ),
    (
        "user.authorization.credentials",
        "account takeover with the credentials",
        "Someone could try to sign in to your account.",
    ),
    (
        "user.financial",
        "financial fraud",
        "Someone could try to use your financial details for fraud.",
    ),
    (
        "user.government_id",
        "identity theft",
        "Someone could try to use your identification number to pretend to be you.",
    ),
    (
        "user.behavior.browsing_history",
        "profiling, and embarrassment or extortion where the pages visited are sensitive",
        "Someone could learn which of our pages you visited.",
    ),
    (
        "user.location.precise",
        "revealing where people live or go",
        "Someone could learn where you were when you used our service.",
    ),
];

fn consequences(r: &Report) -> Vec<&'static (&'static str, &'static str, &'static str)> {
    let in_clear: Vec<&str> = r
        .categories
        .iter()
        .filter(|(_, c)| !c.pseudonymised_only)
        .map(|(k, _)| k.as_str())
        .collect();
    CONSEQUENCES
        .iter()
        .filter(|(parent, _, _)| in_clear.iter().any(|k| covers(parent, k)))
        .collect()
}

/// The labels of the categories sent, each once, in key order; pseudonym only when every
/// key with that label was sent only as a pseudonym.
fn sent_labels(r: &Report) -> Vec<(&str, bool)> {
    let mut sent: Vec<(&str, bool)> = Vec::new();
    for (key, c) in &r.categories {
        let label = category_label(key);
        match sent.iter_mut().find(|(l, _)| *l == label) {
            Some((_, pseudonym_only)) => *pseudonym_only &= c.pseudonymised_only,
            None => sent.push((label, c.pseudonymised_only)),
        }
    }
    sent
}

fn pseudonymised_keys(r: &Report) -> Vec<&str> {
    r.categories
        .iter()
        .filter(|(_, c)| c.pseudonymised_only)
        .map(|(k, _)| k.as_str())
        .collect()
}

fn exposed(r: &Report, parent: &str) -> bool {
    r.categories.keys().any(|k| covers(parent, k))
}

/// When we became aware: as recorded, else when the vendor informed us, else when the
/// incident was opened (the same fallback the deadline clocks use).
fn aware_at(r: &Report) -> Option<i64> {
    let opened = || r.timeline.iter().find(|e| e.kind == "opened").map(|e| e.at_ms);
    r.facts.aware_at_ms.or(r.facts.informed_at_ms).or_else(opened)
}

fn title(r: &Report) -> String {
    match r.title.trim() {
        "" => format!("Incident {}", r.incident_id),
        t => t.to_string(),
    }
}

fn contact(org: &Organisation) -> String {
    match (present(&org.contact_email), present(&org.contact_phone)) {
        (Some(email), Some(phone)) => format!("{email}, {phone}"),
        (Some(one), None) | (None, Some(one)) => one.to_string(),
        (None, None) => todo("contact email, and a toll-free phone number where required"),
    }
}

fn labels(keys: &[&str]) -> String {
    let labels: Vec<&str> = keys.iter().map(|k| category_label(k)).collect();
    join_and(&labels)
}

/// `a`, `a and b`, `a, b and c`.
fn join_and(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

fn todo(what: &str) -> String {
    format!("{TO_COMPLETE}{what}]")
}

fn present(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn filled(value: &Option<String>, what: &str) -> String {
    present(value).map_or_else(|| todo(what), str::to_string)
}

fn span(from_ms: i64, to_ms: i64) -> String {
    format!("from {} to {}", format_utc(from_ms), format_utc(to_ms))
}

fn date_span(from_ms: i64, to_ms: i64) -> String {
    let (from, to) = (format_date(from_ms), format_date(to_ms));
    if from == to {
        format!("on {from}")
    } else {
        format!("between {from} and {to}")
    }
}

fn utc_or_dash(ms: Option<i64>) -> String {
    ms.map_or_else(|| "-".into(), format_utc)
}

fn utc_or_todo(ms: Option<i64>, what: &str) -> String {
    ms.map_or_else(|| todo(what), format_utc)
}

fn date_or_todo(ms: Option<i64>, what: &str) -> String {
    ms.map_or_else(|| todo(what), format_date)
}

fn or_dash(text: &str) -> &str {
    if text.trim().is_empty() { "-" } else { text }
}

/// Text safe inside one Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::classify::taxonomy::CATEGORIES;
    use crate::incident::deadlines::{default_rules, evaluate};
    use crate::incident::report::{CategoryExposure, Facts, SourceExposure};
    use crate::incident::time::{MS_PER_DAY, days_from_civil};

    fn at(month: u32, day: u32, hour: i64) -> i64 {
        days_from_civil(2025, month, day) * MS_PER_DAY + hour * MS_PER_HOUR
    }

    fn exposure(people: u64, records: u64, pseudonymised_only: bool) -> CategoryExposure {
        CategoryExposure {
            people,
            records,
            pseudonymised_only,
        }
    }

    fn entry(at_ms: i64, kind: &str, detail: &str) -> TimelineEntry {
        TimelineEntry {
            at_ms,
            kind: kind.into(),
            detail: detail.into(),
        }
    }

    /// The Mixpanel case: email and approximate location in clear, user ids as pseudonyms.
    fn mixpanel() -> Report {
        let facts = Facts {
            vendor_detected_at_ms: Some(at(11, 8, 0)),
            informed_at_ms: Some(at(11, 25, 0)),
            aware_at_ms: Some(at(11, 25, 0)),
            materiality_at_ms: None,
            users_notified_at_ms: None,
        };
        let categories = BTreeMap::from([
            ("user.contact.email".to_string(), exposure(1204, 38211, false)),
            ("user.location.coarse".to_string(), exposure(1187, 36002, false)),
            ("user.unique_id".to_string(), exposure(1204, 38211, true)),
        ]);
        let keys: Vec<&str> = categories.keys().map(String::as_str).collect();
        let generated_at_ms = at(11, 26, 10);
        let deadlines = evaluate(&default_rules(), &facts, 1204, &keys, generated_at_ms);
        Report {
            incident_id: "inc-7".into(),
            revision: 2,
            title: "Mixpanel breach, November 2025".into(),
            destination: "mixpanel".into(),
            vendor: String::new(),
            breach_from_ms: at(11, 8, 0),
            breach_to_ms: at(11, 9, 23),
            data_from_ms: at(8, 10, 0),
            data_to_ms: at(11, 9, 23),
            data_range_basis: "breach window less the vendor's retention".into(),
            vendor_retention_days: Some(90),
            facts,
            generated_at_ms,
            people: 1204,
            records: 38211,
            categories,
            fields: BTreeMap::from([
                ("/properties/$email".to_string(), 38211),
                ("/properties/$city".to_string(), 36002),
                ("/properties/distinct_id".to_string(), 38211),
            ]),
            first_exposure_ms: Some(at(8, 10, 7)),
            last_exposure_ms: Some(at(11, 9, 22)),
            sources: BTreeMap::from([
                (
                    "web".to_string(),
                    SourceExposure {
                        people: 1100,
                        records: 30000,
                    },
                ),
                (
                    "ios".to_string(),
                    SourceExposure {
                        people: 150,
                        records: 8211,
                    },
                ),
            ]),
            held_back: BTreeMap::from([
                ("user.device.ip_address".to_string(), 38211),
                ("user.contact.phone_number".to_string(), 210),
            ]),
            vendor_ids: 1310,
            deadlines,
            timeline: vec![
                entry(at(11, 25, 9), "opened", "Opened from the vendor's notice"),
                entry(at(11, 25, 11), "destination_suspended", "Deliveries to mixpanel paused"),
                entry(
                    at(11, 25, 12),
                    "key_rotated",
                    "Pseudonymisation key version 3 replaced by 4",
                ),
            ],
            organisation: Organisation {
                name: Some("Example Analytics Ltd".into()),
                contact_email: Some("privacy@example.com".into()),
                contact_phone: None,
                dpo_name: None,
                dpo_email: None,
                lead_authority: Some("Data Protection Commission (Ireland)".into()),
                website: Some("example.com".into()),
            },
        }
    }

    fn lines(text: &str) -> Vec<&str> {
        text.lines().collect()
    }

    fn headings(text: &str) -> Vec<&str> {
        text.lines().filter(|l| l.starts_with("## ")).collect()
    }

    /// The text before the first `:` of every line that holds a marker.
    fn marked_items(text: &str) -> Vec<&str> {
        text.lines()
            .filter(|l| l.contains(TO_COMPLETE))
            .map(|l| l.split(':').next().unwrap_or(l))
            .collect()
    }

    /// What every marker asks for.
    fn markers(text: &str) -> Vec<&str> {
        text.split(TO_COMPLETE)
            .skip(1)
            .map(|rest| rest.split(']').next().unwrap_or(rest))
            .collect()
    }

    fn line_starting<'a>(text: &'a str, prefix: &str) -> &'a str {
        text.lines().find(|l| l.starts_with(prefix)).unwrap()
    }

    #[test]
    fn labels_are_plain_language_with_the_key_as_fallback() {
        assert_eq!(category_label("user.contact.email"), "email address");
        assert_eq!(category_label("user.name"), "name");
        assert_eq!(
            category_label("user.location.coarse"),
            "approximate location (city, region, country)"
        );
        assert_eq!(category_label("user.device"), "device and browser information");
        assert_eq!(
            category_label("user.behavior.browsing_history"),
            "pages visited and referring websites"
        );
        assert_eq!(category_label("user.unique_id"), category_label("user.account"));
        assert_eq!(
            category_label("user.financial.crypto_wallet"),
            "cryptocurrency wallet address"
        );
        assert_eq!(category_label("user.sideways.novel"), "user.sideways.novel");
        for c in CATEGORIES {
            assert_ne!(
                category_label(c.key),
                c.key,
                "every emitted category has a label: {}",
                c.key
            );
        }
    }

    #[test]
    fn report_holds_every_figure() {
        let md = report_markdown(&mixpanel());
        let all = lines(&md);
        assert_eq!(all[0], "# Mixpanel breach, November 2025");
        for expected in [
            "Incident `inc-7`, revision 2. Generated 2025-11-26T10:00:00Z.",
            "- Destination: mixpanel",
            "- Breach window at the vendor: from 2025-11-08T00:00:00Z to 2025-11-09T23:00:00Z",
            "- Data range: from 2025-08-10T00:00:00Z to 2025-11-09T23:00:00Z",
            "- Basis of the data range: breach window less the vendor's retention",
            "- Vendor retention: 90 days",
            "- Affected people: 1204 distinct (linked ids count once)",
            "- Records delivered in the data range: 38211",
            "- Distinct ids as the vendor knows them: 1310",
            "- First exposure: 2025-08-10T07:00:00Z",
            "- Last exposure: 2025-11-09T22:00:00Z",
            "| email address | `user.contact.email` | 1204 | 38211 | no |",
            "| approximate location (city, region, country) | `user.location.coarse` | 1187 | 36002 | no |",
            "| account and user identifiers | `user.unique_id` | 1204 | 38211 | yes |",
            "| `/properties/$email` | 38211 |",
            "| web | 1100 | 30000 |",
            "| IP address | `user.device.ip_address` | 38211 |",
            "| phone number | `user.contact.phone_number` | 210 |",
            "| 2025-11-25T11:00:00Z | destination_suspended | Deliveries to mixpanel paused |",
        ] {
            assert!(all.contains(&expected), "missing line {expected:?} in\n{md}");
        }
        assert!(md.contains("Good news: these categories came in"));
        assert_eq!(
            headings(&md),
            [
                "## Categories sent",
                "## Fields sent",
                "## By source",
                "## Held back by the policy",
                "## Deadline clocks",
                "## Timeline"
            ]
        );
        assert!(!md.contains(TO_COMPLETE), "the report states facts only");
    }

    #[test]
    fn report_shows_the_deadline_clocks() {
        let md = report_markdown(&mixpanel());
        let gdpr = line_starting(&md, "| GDPR Art. 33 |");
        assert!(
            gdpr.starts_with(
                "| GDPR Art. 33 | lead supervisory authority | aware | 2025-11-25T00:00:00Z | 2025-11-28T00:00:00Z | \
                 running | 72 hours from aware."
            ),
            "{gdpr}"
        );
        let art34 = line_starting(&md, "| GDPR Art. 34 |");
        assert!(art34.contains("| without undue delay | running |"), "{art34}");
        let sec = line_starting(&md, "| SEC Form 8-K Item 1.05 |");
        assert!(sec.contains("| materiality | - | - | not_started |"), "{sec}");
        let ca = line_starting(&md, "| California Civ. Code 1798.82 |");
        assert!(
            ca.contains("| not_applicable | None of its trigger categories was exposed"),
            "{ca}"
        );
        let mut late = mixpanel();
        late.deadlines = evaluate(&default_rules(), &late.facts, 1204, &[], at(11, 29, 0));
        assert!(report_markdown(&late).contains("| 2025-11-28T00:00:00Z | **overdue** |"));
    }

    #[test]
    fn empty_report_renders_without_panicking() {
        let r = Report::default();
        let md = report_markdown(&r);
        assert!(md.starts_with("# Incident \n"));
        assert!(md.contains("The vendor received no classified personal data in the data range."));
        assert!(md.contains("Nothing was held back"));
        assert!(md.contains("No deadline rules were evaluated."));
        assert!(md.contains("- First exposure: -"));
        let notice = regulator_notice(&r);
        assert!(notice.contains("- Legal name: [TO COMPLETE: legal name of the organisation]"));
        assert!(notice.contains("- We became aware: [TO COMPLETE: when we became aware]"));
        let user = user_notice(&r);
        assert!(user.contains("Our records show no personal information among what we sent"));
        assert_eq!(headings(&user).len(), 5);
    }

    #[test]
    fn extreme_values_render_without_panicking() {
        let mut r = mixpanel();
        r.people = u64::MAX;
        r.breach_from_ms = i64::MIN;
        r.breach_to_ms = i64::MAX;
        r.generated_at_ms = i64::MAX;
        r.facts.vendor_detected_at_ms = Some(i64::MIN);
        r.facts.informed_at_ms = Some(i64::MAX);
        r.facts.aware_at_ms = Some(i64::MIN);
        r.timeline.push(entry(i64::MIN, "key_rotated", ""));
        assert!(report_markdown(&r).contains(&format!("- Affected people: {} distinct", u64::MAX)));
        assert!(regulator_notice(&r).contains("- Reasons for delay: this report is 5124095576030 hours after"));
        // Dates are clamped to the calendar's range (years -9999 to 9999).
        assert!(user_notice(&r).contains("between -9999-01-02 and 9999-12-30"));
    }

    #[test]
    fn table_cells_cannot_break_the_table() {
        let mut r = mixpanel();
        r.timeline = vec![entry(0, "scope_changed", "range | widened\nby a week")];
        let md = report_markdown(&r);
        assert!(
            md.contains("| 1970-01-01T00:00:00Z | scope_changed | range \\| widened by a week |"),
            "{md}"
        );
    }

    #[test]
    fn regulator_notice_fills_what_the_data_knows() {
        let notice = regulator_notice(&mixpanel());
        let all = lines(&notice);
        assert_eq!(all[0], "# Personal data breach notification (GDPR Art. 33): draft");
        for expected in [
            "- Phase: initial (Art. 33(4): further information will follow in phases)",
            "- Internal reference: inc-7 (revision 2)",
            "- Legal name: Example Analytics Ltd",
            "- Lead supervisory authority: Data Protection Commission (Ireland)",
            "- Other contact point: privacy@example.com",
            "- Breach window at mixpanel: from 2025-11-08T00:00:00Z to 2025-11-09T23:00:00Z",
            "- The vendor detected the breach: 2025-11-08T00:00:00Z",
            "- The vendor informed us: 2025-11-25T00:00:00Z",
            "- We became aware: 2025-11-25T00:00:00Z",
            "- Reasons for delay: none needed: this report is within 72 hours of our becoming aware",
            "- Vendor involved: mixpanel, an analytics vendor acting as our processor (Art. 28)",
            "- Approximate number: 38211 records sent to mixpanel from 2025-08-10T00:00:00Z to 2025-11-09T23:00:00Z",
            "| email address | `user.contact.email` | 1204 | 38211 | in clear |",
            "| account and user identifiers | `user.unique_id` | 1204 | 38211 | pseudonym only |",
            "- Credentials, financial or government identification data: none",
            "- Special categories (Art. 9): none detected by vendorwall's classifier",
            "- targeted phishing using real contact details",
            "- 2025-11-25T11:00:00Z: stopped sending data to the vendor (Deliveries to mixpanel paused)",
            "  - web: 1100 people, 30000 records",
        ] {
            assert!(all.contains(&expected), "missing line {expected:?} in\n{notice}");
        }
        assert!(notice.contains("- Approximate number: 1204 people (distinct;"));
        assert!(notice.contains("by 1310 distinct identifiers"));
        let pseudonyms = line_starting(&notice, "- Pseudonymisation:");
        assert!(pseudonyms.starts_with(
            "- Pseudonymisation: sent to mixpanel only as keyed pseudonyms: account and user identifiers."
        ));
        assert!(pseudonyms.contains("Art. 34(3)(a)"));
        assert!(
            line_starting(&notice, "- 2025-11-25T12:00:00Z: rotated the pseudonymisation key")
                .ends_with("(Pseudonymisation key version 3 replaced by 4)")
        );
    }

    #[test]
    fn regulator_notice_marks_exactly_what_a_person_must_complete() {
        let notice = regulator_notice(&mixpanel());
        assert_eq!(
            marked_items(&notice),
            [
                "- Main establishment in the EU",
                "- NIS2 entity class and sector",
                "- Data protection officer",
                "- Vector",
                "- Sub-processors involved",
                "- Unlawful or malicious act suspected",
                "- Cross-border impact",
                "- Categories of data subjects",
                "- Data subjects per country",
                "- Children's data",
                "- Likely consequences",
                "- Risk level",
                "- Status",
                "- Vendor's breach notice",
            ]
        );

        let mut r = mixpanel();
        r.organisation.dpo_name = Some("Office of the DPO".into());
        r.organisation.dpo_email = Some("dpo@example.com".into());
        r.facts.users_notified_at_ms = Some(at(11, 26, 9));
        let notice = regulator_notice(&r);
        assert!(notice.contains("\n- Data protection officer: Office of the DPO, dpo@example.com\n"));
        assert!(!marked_items(&notice).contains(&"- Data protection officer"));
        assert!(notice.contains("- Sent: 2025-11-26T09:00:00Z [TO COMPLETE: channel; attach a copy]"));

        r.organisation = Organisation::default();
        r.timeline.clear();
        let notice = regulator_notice(&r);
        let marked = marked_items(&notice);
        for item in [
            "- Legal name",
            "- Lead supervisory authority",
            "- Other contact point",
            "- Containment",
        ] {
            assert!(marked.contains(&item), "{item} marked when missing");
        }
    }

    #[test]
    fn regulator_notice_asks_for_reasons_when_late() {
        let mut r = mixpanel();
        r.generated_at_ms = at(11, 29, 10);
        let notice = regulator_notice(&r);
        let reasons = line_starting(&notice, "- Reasons for delay:");
        assert_eq!(
            reasons,
            "- Reasons for delay: this report is 106 hours after we became aware. The vendor informed us 17 days \
             after it detected the breach. [TO COMPLETE: reasons for the delay]"
        );
        r.facts.aware_at_ms = None;
        r.facts.informed_at_ms = None;
        let notice = regulator_notice(&r);
        assert!(
            notice.contains("- We became aware: 2025-11-25T09:00:00Z"),
            "falls back to the opening time"
        );
    }

    #[test]
    fn regulator_notice_flags_sensitive_categories() {
        let mut r = mixpanel();
        r.categories
            .insert("user.government_id.passport_number".into(), exposure(3, 3, false));
        r.categories
            .insert("user.behavior.browsing_history".into(), exposure(900, 9000, false));
        r.categories
            .insert("user.health_and_medical".into(), exposure(2, 2, false));
        let notice = regulator_notice(&r);
        assert!(notice.contains("- Credentials, financial or government identification data: yes: passport number\n"));
        let special = line_starting(&notice, "- Special categories (Art. 9):");
        assert!(
            special.starts_with("- Special categories (Art. 9): yes: health or medical information; pages visited")
        );
        assert!(special.contains(TO_COMPLETE));
        assert!(notice.contains("- identity theft\n"));
    }

    #[test]
    fn user_notice_has_the_california_headings_in_order() {
        let notice = user_notice(&mixpanel());
        assert!(notice.starts_with("# Notice of Data Breach\n"));
        assert_eq!(
            headings(&notice),
            [
                "## What Happened",
                "## What Information Was Involved",
                "## What We Are Doing",
                "## What You Can Do",
                "## For More Information"
            ]
        );
    }

    #[test]
    fn user_notice_says_what_was_sent_and_what_only_as_pseudonyms() {
        let notice = user_notice(&mixpanel());
        let all = lines(&notice);
        for expected in [
            "**Example Analytics Ltd**",
            "Date of this notice: 2025-11-26",
            "On 2025-11-08, mixpanel discovered the incident; it told us on 2025-11-25.",
            "- email address",
            "- approximate location (city, region, country)",
            "- account and user identifiers, only in coded form",
            "- Someone could use your contact details to send you messages that look like they come from us.",
            "- On 2025-11-25, we stopped sending data to mixpanel.",
            "If you have questions, contact us: privacy@example.com.",
            "Please quote reference inc-7 when you contact us.",
        ] {
            assert!(all.contains(&expected), "missing line {expected:?} in\n{notice}");
        }
        assert!(notice.contains("had a security incident between 2025-11-08 and 2025-11-09:"));
        assert!(notice.contains("Between 2025-08-10 and 2025-11-09 it included"));
        assert!(notice.contains("We sent your account and user identifiers only in coded form (a pseudonym)"));
        assert!(!notice.contains("IP address"), "held-back categories were not involved");
        assert!(!notice.contains("user.contact"), "plain language, no taxonomy keys");
    }

    #[test]
    fn user_notice_gives_concrete_phishing_guidance() {
        let notice = user_notice(&mixpanel());
        for expected in [
            "We will never ask for your password",
            "Check the sender's address",
            "messages asking you to verify, unlock or update your account",
            "Go to our website by typing example.com yourself instead.",
            "multi-factor authentication (MFA)",
        ] {
            assert!(notice.contains(expected), "{expected}");
        }
        for absent in [
            "Equifax",
            "identity theft prevention",
            "Change your password",
            "recovery phrase",
        ] {
            assert!(!notice.contains(absent), "{absent} only when such data was involved");
        }
        assert_eq!(
            markers(&notice),
            [
                "one or two plain sentences on what happened at the vendor",
                "whether this notice was delayed at the request of law enforcement"
            ]
        );
    }

    #[test]
    fn user_notice_adds_credit_bureaus_for_identification_and_financial_data() {
        let mut r = mixpanel();
        r.categories.insert(
            "user.government_id.national_identification_number".into(),
            exposure(5, 5, false),
        );
        r.categories
            .insert("user.financial.crypto_wallet".into(), exposure(5, 5, true));
        r.categories
            .insert("user.authorization.credentials".into(), exposure(2, 2, false));
        let notice = user_notice(&r);
        assert!(notice.contains("- national identification number (such as a Social Security number)\n"));
        assert!(notice.contains("- cryptocurrency wallet address, only in coded form\n"));
        assert!(notice.contains("Equifax (equifax.com), Experian (experian.com) and TransUnion (transunion.com)"));
        assert!(notice.contains(
            "[TO COMPLETE: our offer of identity theft prevention and mitigation services at no cost for at least 12 \
             months, and how to enrol]"
        ));
        assert!(notice.contains("- Change your password with us, and anywhere else you used the same password."));
        assert!(notice.contains("recovery phrase"));
        assert!(notice.contains("- Someone could try to sign in to your account."));
    }

    #[test]
    fn user_notice_marks_missing_contact_and_dates() {
        let mut r = mixpanel();
        r.organisation = Organisation::default();
        r.facts.vendor_detected_at_ms = None;
        r.timeline.clear();
        let notice = user_notice(&r);
        assert!(notice.contains("**[TO COMPLETE: organisation name]**"));
        assert!(
            notice
                .contains("On [TO COMPLETE: date the vendor discovered it], mixpanel discovered the incident; it told")
        );
        assert!(
            notice.contains("contact us: [TO COMPLETE: contact email, and a toll-free phone number where required].")
        );
        assert!(notice.contains("- [TO COMPLETE: what we did to contain the incident and what we will do next]"));

        r.organisation.dpo_email = Some("dpo@example.com".into());
        assert!(user_notice(&r).contains("You can also write to our data protection officer at dpo@example.com."));
    }

    #[test]
    fn markers_are_uniform_and_closed() {
        let mut r = mixpanel();
        r.organisation = Organisation::default();
        r.categories
            .insert("user.financial.bank_account".into(), exposure(1, 1, false));
        for text in [regulator_notice(&r), user_notice(&r), report_markdown(&r)] {
            for line in text.lines() {
                for (i, _) in line.match_indices("[TO COMPLETE") {
                    assert!(line[i..].starts_with(TO_COMPLETE), "{line}");
                    assert!(line[i..].contains(']'), "{line}");
                }
                assert!(!line.contains("TODO") && !line.contains("TBD"), "{line}");
            }
        }
    }

    /// Notices name the vendor by its display name; the destination's own name stays in the
    /// report's header.
    #[test]
    fn notices_name_the_vendor_by_its_display_name() {
        let mut r = mixpanel();
        r.destination = "analytics-eu".into();
        r.vendor = "Amplitude".into();
        let md = report_markdown(&r);
        assert!(md.contains("- Destination: analytics-eu (Amplitude)"), "{md}");
        let notice = regulator_notice(&r);
        assert!(
            notice.contains("- Vendor involved: Amplitude, an analytics vendor"),
            "{notice}"
        );
        assert!(!notice.contains("analytics-eu"), "{notice}");
        let user = user_notice(&r);
        assert!(user.contains("Amplitude") && !user.contains("analytics-eu"), "{user}");
    }
}
