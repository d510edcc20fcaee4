//! Key-name words in other languages, scripts and abbreviations, mapped to the English words
//! the key tables in `keys` are written in.
//!
//! [`canonical`] takes the words `keys::words` split a key into and returns groups of English
//! words, one group per source word (`geburtsdatum` → `[birth] [date]`, `numéro` →
//! `[number]`, `電話番号` → `[phone] [number]`), in five steps per word, first hit wins:
//!
//! 1. a word the English tables already know stays as it is;
//! 2. diacritics are folded (`prénom` → `prenom`, `łódź` → `lodz`, `ß` → `ss`) and the word,
//!    or a run of two or three words (`mot de passe`), is looked up in [`VOCABULARY`]; entries
//!    ending in `*` also match inflected forms (up to three more letters: `telefon*` covers
//!    `telefonu`, `telefono`, `телефона`);
//! 3. words in scripts written without spaces (Han, Kana, Hangul) and compounds in any Latin
//!    language (`kartennummer`, `sozialversicherungsnummer`, `useremail`) are split into known
//!    stems, longest first, with linking `s`; the whole word must be covered;
//! 4. abbreviations are expanded when they are the prefix or the consonant skeleton of one
//!    known stem only (`usr` → user, `eml` → email, `soz` → sozial, `vers` → versicherung);
//! 5. anything else stays as it is (an unknown last word means "not a known kind").
//!
//! Function words (`de`, `of`, `van`, `na`, `的`, `の` …) become empty groups and are dropped.
//! Head-first languages put the head noun first (`numéro de téléphone`, `дата рождения`,
//! `tanggal lahir`); `keys` reverses the groups when the first one is a generic head
//! (number, date, code, name, address …) and every word is a known one.
//!
//! The vocabulary covers English, German, French, Spanish, Portuguese, Italian, Dutch,
//! Polish, Czech, Slovak, Swedish, Danish, Norwegian, Finnish, Turkish, Indonesian, Malay,
//! Romanian, Russian, Ukrainian, Greek, Japanese, Chinese (simplified and traditional),
//! Korean, Arabic and Hindi: the key classes email, phone, names (given, family, full),
//! birth date, card, card security code, bank account, national id, social security, tax
//! id, passport, driving licence, password, secret, token, PIN, key, address, street,
//! postal code, city, latitude, longitude, username, IP, device, gender and age.
//!
//! This runs once per distinct key (`keys` caches the result), never per value.

use std::collections::HashMap;
use std::sync::LazyLock;

/// Foreign (and folded) word → English words ("" for a function word). `*` at the end:
/// inflected forms match too.
pub const VOCABULARY: &[(&str, &str)] = &[
    // ---- function words (dropped)
    ("de", ""),
    ("di", ""),
    ("da", ""),
    ("do", ""),
    ("du", ""),
    ("des", ""),
    ("del", ""),
    ("della", ""),
    ("dello", ""),
    ("dei", ""),
    ("d", ""),
    ("l", ""),
    ("la", ""),
    ("le", ""),
    ("el", ""),
    ("los", ""),
    ("las", ""),
    ("van", ""),
    ("von", ""),
    ("der", ""),
    ("des", ""),
    ("dem", ""),
    ("het", ""),
    ("na", ""),
    ("dla", ""),
    ("för", ""),
    ("for", ""),
    ("til", ""),
    ("och", ""),
    ("und", ""),
    ("et", ""),
    ("y", ""),
    ("e", ""),
    ("of", ""),
    ("the", ""),
    ("your", ""),
    ("votre", ""),
    ("su", ""),
    ("seu", ""),
    ("sua", ""),
    ("ihre", ""),
    ("dein", ""),
    ("deine", ""),
    ("uw", ""),
    ("twoj", ""),
    ("ваш", ""),
    ("ваша", ""),
    ("का", ""),
    ("की", ""),
    ("के", ""),
    ("的", ""),
    ("の", ""),
    ("의", ""),
    // ---- number / code / date (generic heads)
    ("nr", "number"),
    ("no", "number"),
    ("num", "number"),
    ("nbr", "number"),
    ("nro", "number"),
    ("numero", "number"),
    ("nummer", "number"),
    ("nummern", "number"),
    ("numer", "number"),
    ("numar", "number"),
    ("numara*", "number"),
    ("nomor", "number"),
    ("nombor", "number"),
    ("cislo", "number"),
    ("номер", "number"),
    ("номера", "number"),
    ("αριθμος", "number"),
    ("番号", "number"),
    ("号码", "number"),
    ("號碼", "number"),
    ("号", "number"),
    ("번호", "number"),
    ("رقم", "number"),
    ("नंबर", "number"),
    ("संख्या", "number"),
    ("cd", "code"),
    ("codigo", "code"),
    ("codice", "code"),
    ("kod", "code"),
    ("kode", "code"),
    ("cod", "code"),
    ("kodu", "code"),
    ("код", "code"),
    ("코드", "code"),
    ("कोड", "code"),
    ("dt", "date"),
    ("dat", "date"),
    ("datum", "date"),
    ("data", "date"),
    ("date", "date"),
    ("fecha", "date"),
    ("dato", "date"),
    ("tarih*", "date"),
    ("tanggal", "date"),
    ("tarikh", "date"),
    ("дата", "date"),
    ("日期", "date"),
    ("날짜", "date"),
    ("تاريخ", "date"),
    ("तिथि", "date"),
    ("तारीख", "date"),
    // ---- email
    ("eml", "email"),
    ("mail", "mail"),
    ("courriel", "email"),
    ("correo", "email"),
    ("electronico", ""),
    ("electronique", ""),
    ("eletronico", ""),
    ("elettronica", ""),
    ("posta", "mail"),
    ("eposta", "email"),
    ("epost", "email"),
    ("sahkoposti", "email"),
    ("surel", "email"),
    ("emel", "email"),
    ("почта", "mail"),
    ("почты", "mail"),
    ("пошта", "mail"),
    ("электронн*", ""),
    ("електронн*", ""),
    ("ηλεκτρονικο", ""),
    ("ταχυδρομειο", "email"),
    ("メール", "email"),
    ("メールアドレス", "email address"),
    ("邮箱", "email"),
    ("郵箱", "email"),
    ("电子邮件", "email"),
    ("電子郵件", "email"),
    ("电邮", "email"),
    ("이메일", "email"),
    ("메일", "email"),
    ("بريد", "mail"),
    ("الكتروني", ""),
    ("إلكتروني", ""),
    ("ईमेल", "email"),
    // ---- phone
    ("tel", "tel"),
    ("ph", "phone"),
    ("telefon*", "phone"),
    ("telefoon", "phone"),
    ("telefoonnummer", "phone number"),
    ("telepon", "phone"),
    ("ponsel", "mobile"),
    ("handy", "mobile"),
    ("mobil*", "mobile"),
    ("movil", "mobile"),
    ("celular", "mobile"),
    ("cellulare", "mobile"),
    ("gsm", "mobile"),
    ("cep", "postcode"),
    ("puhelin*", "phone"),
    ("τηλεφωνο", "phone"),
    ("κινητο", "mobile"),
    ("телефон*", "phone"),
    ("мобильн*", "mobile"),
    ("мобільн*", "mobile"),
    ("電話", "phone"),
    ("携帯", "mobile"),
    ("电话", "phone"),
    ("手机", "mobile"),
    ("手機", "mobile"),
    ("전화", "phone"),
    ("휴대폰", "mobile"),
    ("핸드폰", "mobile"),
    ("هاتف", "phone"),
    ("الهاتف", "phone"),
    ("جوال", "mobile"),
    ("موبايل", "mobile"),
    ("फोन", "phone"),
    ("मोबाइल", "mobile"),
    ("दूरभाष", "phone"),
    // ---- names
    ("nm", "name"),
    ("nam", "name"),
    ("nom", "surname"),
    ("nom utilisateur", "username"),
    ("nom famille", "family name"),
    ("nom complet", "full name"),
    ("nom jeune fille", "maiden name"),
    ("prenom", "first name"),
    ("prenoms", "first name"),
    ("vorname", "first name"),
    ("vornamen", "first name"),
    ("nachname", "last name"),
    ("zuname", "last name"),
    ("familienname", "family name"),
    ("nombre", "name"),
    ("nombres", "name"),
    ("apellido*", "surname"),
    ("nome", "name"),
    ("cognome", "surname"),
    ("sobrenome", "surname"),
    ("apelido", "surname"),
    ("primeiro", "first"),
    ("primer", "first"),
    ("primo", "first"),
    ("ultimo", "last"),
    ("completo", "full"),
    ("completa", "full"),
    ("complet", "full"),
    ("voornaam", "first name"),
    ("achternaam", "last name"),
    ("naam", "name"),
    ("imie", "first name"),
    ("nazwisko", "surname"),
    ("jmeno", "name"),
    ("krestni", "first"),
    ("prijmeni", "surname"),
    ("priezvisko", "surname"),
    ("fornavn", "first name"),
    ("fornamn", "first name"),
    ("efternamn", "last name"),
    ("efternavn", "last name"),
    ("etternavn", "last name"),
    ("namn", "name"),
    ("navn", "name"),
    ("etunimi", "first name"),
    ("sukunimi", "last name"),
    ("nimi", "name"),
    ("isim", "name"),
    ("adi", "name"),
    ("soyad*", "surname"),
    ("nama", "name"),
    ("depan", "first"),
    ("belakang", "last"),
    ("keluarga", "family"),
    ("lengkap", "full"),
    ("nume", "name"),
    ("prenume", "first name"),
    ("familie", "family"),
    ("famille", "family"),
    ("familia", "family"),
    ("famiglia", "family"),
    ("имя", "first name"),
    ("им я", "first name"),
    ("ім я", "first name"),
    ("фамили*", "surname"),
    ("отчеств*", "middle name"),
    ("прізвищ*", "surname"),
    ("фио", "full name"),
    ("ονομα", "first name"),
    ("επωνυμο", "surname"),
    ("名前", "name"),
    ("氏名", "full name"),
    ("姓名", "full name"),
    ("名字", "name"),
    ("姓", "surname"),
    ("名", "name"),
    ("이름", "name"),
    ("성명", "full name"),
    ("성", "surname"),
    ("اسم", "name"),
    ("الاسم", "name"),
    ("الأول", "first"),
    ("الاول", "first"),
    ("الأخير", "last"),
    ("العائلة", "family"),
    ("عائلة", "family"),
    ("الكامل", "full"),
    ("اللقب", "surname"),
    ("नाम", "name"),
    ("पहला", "first"),
    ("उपनाम", "surname"),
    ("कुलनाम", "surname"),
    ("पूरा", "full"),
    // ---- birth
    ("geb", "birth"),
    ("geburt*", "birth"),
    ("geburtstag", "birthday"),
    ("naissance", "birth"),
    ("nacimiento", "birth"),
    ("nascimento", "birth"),
    ("nascita", "birth"),
    ("geboorte", "birth"),
    ("verjaardag", "birthday"),
    ("urodzeni*", "birth"),
    ("urodziny", "birthday"),
    ("narozeni*", "birth"),
    ("narodeni*", "birth"),
    ("fodelse*", "birth"),
    ("fodsels*", "birth"),
    ("fodsel", "birth"),
    ("syntymaaika", "birth date"),
    ("syntymapaiva", "birth date"),
    ("dogum", "birth"),
    ("lahir", "birth"),
    ("nasteri*", "birth"),
    ("nastere", "birth"),
    ("рождени*", "birth"),
    ("народженн*", "birth"),
    ("γεννησης", "birth"),
    ("生年月日", "date of birth"),
    ("誕生日", "birthday"),
    ("出生", "birth"),
    ("生日", "birthday"),
    ("생년월일", "date of birth"),
    ("생일", "birthday"),
    ("الميلاد", "birth"),
    ("ميلاد", "birth"),
    ("जन्म", "birth"),
    ("जन्मतिथि", "date of birth"),
    // ---- cards
    ("karte*", "card"),
    ("karten", "card"),
    ("konten", "bank account"),
    ("telefons", "phone"),
    ("kaart", "card"),
    ("carte", "card"),
    ("tarjeta", "card"),
    ("cartao", "card"),
    ("carta", "card"),
    ("karty", "card"),
    ("karta", "card"),
    ("kartu", "card"),
    ("kortnummer", "card number"),
    ("kort", "card"),
    ("kortti", "card"),
    ("kart", "card"),
    ("kredi", "credit"),
    ("kredit*", "credit"),
    ("credito", "credit"),
    ("credit", "credit"),
    ("kredyt*", "credit"),
    ("карт*", "card"),
    ("κάρτα", "card"),
    ("καρτα", "card"),
    ("カード", "card"),
    ("卡号", "card number"),
    ("卡號", "card number"),
    ("信用卡", "credit card"),
    ("银行卡", "card"),
    ("銀行卡", "card"),
    ("卡", "card"),
    ("카드", "card"),
    ("بطاقة", "card"),
    ("البطاقة", "card"),
    ("कार्ड", "card"),
    ("prufnummer", "cvv"),
    ("pruefnummer", "cvv"),
    ("kartenprufnummer", "cvv"),
    ("cryptogramme", "cvv"),
    ("seguridad", "security"),
    ("securite", "security"),
    ("seguranca", "security"),
    ("sicurezza", "security"),
    ("bezpieczenstwa", "security"),
    ("guvenlik", "security"),
    ("keamanan", "security"),
    ("securitate", "security"),
    ("sicherheit*", "security"),
    // ---- bank accounts
    ("bank", "bank"),
    ("banco", "bank"),
    ("banque", "bank"),
    ("banca", "bank"),
    ("bancaria", "bank"),
    ("bancario", "bank"),
    ("bancaire", "bank"),
    ("bancar", "bank"),
    ("bankowe*", "bank"),
    ("bankowy", "bank"),
    ("banka", "bank"),
    ("банк*", "bank"),
    ("银行", "bank"),
    ("銀行", "bank"),
    ("은행", "bank"),
    ("konto", "bank account"),
    ("kontonummer", "bank account number"),
    ("rekening", "bank account"),
    ("rekeningnummer", "bank account number"),
    ("compte", "bank account"),
    ("cuenta", "bank account"),
    ("conta", "bank account"),
    ("conto", "bank account"),
    ("rachunek", "bank account"),
    ("rachunku", "bank account"),
    ("ucet", "bank account"),
    ("hesap", "bank account"),
    ("kontonr", "bank account number"),
    ("счет", "bank account"),
    ("счета", "bank account"),
    ("рахунок", "bank account"),
    ("rahunok", "bank account"),
    ("口座", "bank account"),
    ("账号", "bank account"),
    ("帳號", "bank account"),
    ("账户", "bank account"),
    ("계좌", "bank account"),
    ("حساب", "bank account"),
    ("खाता", "bank account"),
    // ---- national ids, social security, tax
    ("personnummer", "national id"),
    ("personnr", "national id"),
    ("cpr", "national id"),
    ("bsn", "national id"),
    ("burgerservicenummer", "national id"),
    ("pesel", "national id"),
    ("rodne", "national"),
    ("dni", "national id"),
    ("nif", "national id"),
    ("nie", "national id"),
    ("nir", "national id"),
    ("cpf", "national id"),
    ("cnp", "national id"),
    ("codice fiscale", "national id"),
    ("fiscale", "tax"),
    ("fiscal", "tax"),
    ("kimlik", "national id"),
    ("tckn", "national id"),
    ("nik", "national id"),
    ("ktp", "national id"),
    ("mykad", "national id"),
    ("henkilotunnus", "national id"),
    ("hetu", "national id"),
    ("amka", "national id"),
    ("инн", "national id"),
    ("снилс", "national id"),
    ("ausweis*", "national id"),
    ("personalausweis*", "national id"),
    ("identite", "national id"),
    ("identidad", "national id"),
    ("identidade", "national id"),
    ("identita", "national id"),
    ("identiteit", "national id"),
    ("tozsamosci", "national id"),
    ("kimligi", "national id"),
    ("identitas", "national id"),
    ("удостоверени*", "document"),
    ("マイナンバー", "national id"),
    ("身份证", "national id"),
    ("身份證", "national id"),
    ("身份证号", "national id number"),
    ("주민등록번호", "national id number"),
    ("주민번호", "national id number"),
    ("الهوية", "national id"),
    ("هوية", "national id"),
    ("आधार", "aadhaar"),
    ("पैन", "pan"),
    ("sozial*", "social"),
    ("soz", "social"),
    ("social", "social"),
    ("sociale", "social"),
    ("socjal*", "social"),
    ("versicherung*", "insurance"),
    ("vers", "insurance"),
    ("sv", "social insurance"),
    ("svnr", "social insurance number"),
    ("svn", "social insurance number"),
    ("insurance", "insurance"),
    ("seguridad social", "social security"),
    ("securite sociale", "social security"),
    ("previdenza", "social security"),
    ("ubezpieczeni*", "insurance"),
    ("steuer*", "tax"),
    ("steuerid", "tax id"),
    ("steuernummer", "tax number"),
    ("belasting*", "tax"),
    ("fiscalite", "tax"),
    ("vergi", "tax"),
    ("pajak", "tax"),
    ("npwp", "tax id"),
    ("налог*", "tax"),
    ("identifikation*", "id"),
    ("identification", "id"),
    ("identificacion", "id"),
    ("identificacao", "id"),
    ("ident", "id"),
    ("idnr", "id number"),
    // ---- passports, driving licences
    ("reisepass*", "passport"),
    ("pass", "pass"),
    ("passeport", "passport"),
    ("pasaporte", "passport"),
    ("passaporte", "passport"),
    ("passaporto", "passport"),
    ("paspoort", "passport"),
    ("paszport*", "passport"),
    ("pas", "passport"),
    ("pasaport", "passport"),
    ("pasport", "passport"),
    ("pasaportu", "passport"),
    ("passi", "passport"),
    ("паспорт*", "passport"),
    ("διαβατηριο", "passport"),
    ("旅券", "passport"),
    ("パスポート", "passport"),
    ("护照", "passport"),
    ("護照", "passport"),
    ("여권", "passport"),
    ("جواز", "passport"),
    ("السفر", ""),
    ("पासपोर्ट", "passport"),
    ("fuhrerschein*", "driving licence"),
    ("fuehrerschein*", "driving licence"),
    ("permis", "licence"),
    ("conduire", "driving"),
    ("licencia", "licence"),
    ("licenca", "licence"),
    ("conducir", "driving"),
    ("carteira", "licence"),
    ("motorista", "driving"),
    ("habilitacao", "driving licence"),
    ("cnh", "driving licence"),
    ("patente", "driving licence"),
    ("rijbewijs*", "driving licence"),
    ("prawo jazdy", "driving licence"),
    ("ridicsky prukaz", "driving licence"),
    ("korkort*", "driving licence"),
    ("korekort", "driving licence"),
    ("forerkort", "driving licence"),
    ("ajokortti", "driving licence"),
    ("ehliyet", "driving licence"),
    ("permis de conducere", "driving licence"),
    ("водительск*", "driving licence"),
    ("посвідчення водія", "driving licence"),
    ("运転免許証", "driving licence"),
    ("運転免許証", "driving licence"),
    ("運転免許", "driving licence"),
    ("驾驶证", "driving licence"),
    ("駕照", "driving licence"),
    ("驾照", "driving licence"),
    ("운전면허", "driving licence"),
    ("운전면허증", "driving licence"),
    ("رخصة", "driving licence"),
    ("ड्राइविंग", "driving"),
    ("लाइसेंस", "licence"),
    // ---- secrets
    ("passwort", "password"),
    ("kennwort", "password"),
    ("mot de passe", "password"),
    ("motdepasse", "password"),
    ("mdp", "password"),
    ("contrasena", "password"),
    ("senha", "password"),
    ("parola", "password"),
    ("wachtwoord", "password"),
    ("haslo", "password"),
    ("heslo", "password"),
    ("losenord", "password"),
    ("adgangskode", "password"),
    ("passord", "password"),
    ("salasana", "password"),
    ("sifre", "password"),
    ("sandi", "password"),
    ("kata sandi", "password"),
    ("kata laluan", "password"),
    ("katasandi", "password"),
    ("parolă", "password"),
    ("пароль", "password"),
    ("пароля", "password"),
    ("κωδικος", "password"),
    ("パスワード", "password"),
    ("暗証番号", "pin"),
    ("密码", "password"),
    ("密碼", "password"),
    ("비밀번호", "password"),
    ("암호", "password"),
    ("كلمة المرور", "password"),
    ("كلمة السر", "password"),
    ("كلمة", ""),
    ("المرور", "password"),
    ("पासवर्ड", "password"),
    ("geheimzahl", "pin"),
    ("geheimnis", "secret"),
    ("geheim", "secret"),
    ("secreto", "secret"),
    ("segredo", "secret"),
    ("segreto", "secret"),
    ("sekret", "secret"),
    ("gizli", "secret"),
    ("rahasia", "secret"),
    ("секрет", "secret"),
    ("秘密", "secret"),
    ("密钥", "secret key"),
    ("jeton", "token"),
    ("токен", "token"),
    ("トークン", "token"),
    ("令牌", "token"),
    ("토큰", "token"),
    ("schlussel", "key"),
    ("schluessel", "key"),
    ("cle", "key"),
    ("clave", "key"),
    ("chave", "key"),
    ("chiave", "key"),
    ("sleutel", "key"),
    ("klucz", "key"),
    ("klic", "key"),
    ("nyckel", "key"),
    ("nokkel", "key"),
    ("anahtar", "key"),
    ("kunci", "key"),
    ("cheie", "key"),
    ("ключ", "key"),
    ("キー", "key"),
    ("키", "key"),
    ("tkn", "token"),
    // ---- addresses
    ("adresse", "address"),
    ("adres", "address"),
    ("adresa", "address"),
    ("adress", "address"),
    ("adressen", "address"),
    ("direccion", "address"),
    ("endereco", "address"),
    ("indirizzo", "address"),
    ("osoite", "address"),
    ("alamat", "address"),
    ("адрес*", "address"),
    ("διευθυνση", "address"),
    ("住所", "address"),
    ("地址", "address"),
    ("주소", "address"),
    ("عنوان", "address"),
    ("العنوان", "address"),
    ("पता", "address"),
    ("strasse", "street"),
    ("str", "str"),
    ("rue", "street"),
    ("calle", "street"),
    ("rua", "street"),
    ("straat", "street"),
    ("ulica", "street"),
    ("ulice", "street"),
    ("gata", "street"),
    ("gatuadress", "street address"),
    ("gade", "street"),
    ("katu", "street"),
    ("sokak", "street"),
    ("cadde", "street"),
    ("jalan", "street"),
    ("strada", "street"),
    ("улиц*", "street"),
    ("вулиц*", "street"),
    ("οδος", "street"),
    ("postleitzahl", "postal code"),
    ("plz", "postal code"),
    ("postal", "postal"),
    ("postale", "postal"),
    ("pocztowy", "postal"),
    ("postnummer", "postal code"),
    ("postnr", "postal code"),
    ("postinumero", "postal code"),
    ("psc", "postal code"),
    ("kodepos", "postal code"),
    ("pos", "pos"),
    ("poskod", "postal code"),
    ("posta kodu", "postal code"),
    ("postcode", "postcode"),
    ("cap", "cap"),
    ("индекс", "postal code"),
    ("почтовый индекс", "postal code"),
    ("郵便番号", "postal code"),
    ("邮编", "postal code"),
    ("邮政编码", "postal code"),
    ("郵遞區號", "postal code"),
    ("우편번호", "postal code"),
    ("الرمز البريدي", "postal code"),
    ("البريدي", "postal"),
    ("पिन कोड", "postal code"),
    ("पिनकोड", "postal code"),
    ("stadt", "city"),
    ("ort", "city"),
    ("wohnort", "city"),
    ("ville", "city"),
    ("ciudad", "city"),
    ("cidade", "city"),
    ("citta", "city"),
    ("stad", "city"),
    ("woonplaats", "city"),
    ("miasto", "city"),
    ("mesto", "city"),
    ("sehir", "city"),
    ("kota", "city"),
    ("oras", "city"),
    ("kaupunki", "city"),
    ("город", "city"),
    ("місто", "city"),
    ("πολη", "city"),
    ("市区町村", "city"),
    ("城市", "city"),
    ("도시", "city"),
    ("مدينة", "city"),
    ("المدينة", "city"),
    ("शहर", "city"),
    // ---- coordinates
    ("breitengrad", "latitude"),
    ("breite", "latitude"),
    ("langengrad", "longitude"),
    ("laengengrad", "longitude"),
    ("lange", "longitude"),
    ("latitud", "latitude"),
    ("longitud", "longitude"),
    ("latitudine", "latitude"),
    ("longitudine", "longitude"),
    ("breedtegraad", "latitude"),
    ("lengtegraad", "longitude"),
    ("szerokosc", "latitude"),
    ("dlugosc", "longitude"),
    ("zemepisna sirka", "latitude"),
    ("enlem", "latitude"),
    ("boylam", "longitude"),
    ("lintang", "latitude"),
    ("bujur", "longitude"),
    ("leveysaste", "latitude"),
    ("pituusaste", "longitude"),
    ("широта", "latitude"),
    ("долгота", "longitude"),
    ("довгота", "longitude"),
    ("γεωγραφικο πλατος", "latitude"),
    ("緯度", "latitude"),
    ("経度", "longitude"),
    ("纬度", "latitude"),
    ("经度", "longitude"),
    ("經度", "longitude"),
    ("위도", "latitude"),
    ("경도", "longitude"),
    ("خط العرض", "latitude"),
    ("خط الطول", "longitude"),
    ("अक्षांश", "latitude"),
    ("देशांतर", "longitude"),
    // ---- users, devices
    ("usr", "user"),
    ("benutzer*", "user"),
    ("nutzer", "user"),
    ("utilisateur", "user"),
    ("usuario", "user"),
    ("utente", "user"),
    ("gebruiker*", "user"),
    ("uzytkownik*", "user"),
    ("uzivatel*", "user"),
    ("anvandar*", "user"),
    ("bruger*", "user"),
    ("bruker*", "user"),
    ("kayttaja*", "user"),
    ("kullanici", "user"),
    ("pengguna", "user"),
    ("utilizator*", "user"),
    ("пользовател*", "user"),
    ("користувач*", "user"),
    ("ユーザー", "user"),
    ("ユーザ", "user"),
    ("用户", "user"),
    ("用戶", "user"),
    ("사용자", "user"),
    ("مستخدم", "user"),
    ("المستخدم", "user"),
    ("उपयोगकर्ता", "user"),
    ("login", "username"),
    ("benutzername", "username"),
    ("nutzername", "username"),
    ("gebruikersnaam", "username"),
    ("anvandarnamn", "username"),
    ("brugernavn", "username"),
    ("brukernavn", "username"),
    ("kayttajanimi", "username"),
    ("kullanici adi", "username"),
    ("nombre usuario", "username"),
    ("nome utente", "username"),
    ("nome usuario", "username"),
    ("nazwa uzytkownika", "username"),
    ("uzivatelske jmeno", "username"),
    ("nama pengguna", "username"),
    ("nume utilizator", "username"),
    ("имя пользователя", "username"),
    ("ユーザー名", "username"),
    ("사용자명", "username"),
    ("사용자 이름", "username"),
    ("اسم المستخدم", "username"),
    ("логин", "username"),
    ("用户名", "username"),
    ("아이디", "username"),
    ("gerat*", "device"),
    ("geraet*", "device"),
    ("appareil", "device"),
    ("dispositivo", "device"),
    ("apparaat", "device"),
    ("urzadzeni*", "device"),
    ("cihaz", "device"),
    ("perangkat", "device"),
    ("устройств*", "device"),
    ("デバイス", "device"),
    ("端末", "device"),
    ("设备", "device"),
    ("設備", "device"),
    ("기기", "device"),
    ("جهاز", "device"),
    ("डिवाइस", "device"),
    // ---- customers and people (qualifiers and person containers)
    ("kunde*", "customer"),
    ("client", "client"),
    ("cliente", "client"),
    ("klant", "customer"),
    ("klient*", "client"),
    ("musteri", "customer"),
    ("pelanggan", "customer"),
    ("клиент*", "client"),
    ("顧客", "customer"),
    ("客户", "customer"),
    ("고객", "customer"),
    ("inhaber*", "holder"),
    ("titulaire", "holder"),
    ("titular", "holder"),
    ("titolare", "holder"),
    ("houder", "holder"),
    ("posiadacz*", "holder"),
    ("empfanger*", "recipient"),
    ("destinataire", "recipient"),
    ("destinatario", "recipient"),
    ("ontvanger", "recipient"),
    ("odbiorc*", "recipient"),
    ("absender", "sender"),
    ("expediteur", "sender"),
    ("remitente", "sender"),
    ("remetente", "sender"),
    ("mittente", "sender"),
    ("afzender", "sender"),
    ("nadawc*", "sender"),
    ("fahrer*", "driver"),
    ("chauffeur", "driver"),
    ("conductor", "driver"),
    ("motorista", "driver"),
    ("autista", "driver"),
    ("bestuurder", "driver"),
    ("kierowc*", "driver"),
    ("passagier*", "passenger"),
    ("passager", "passenger"),
    ("pasajero", "passenger"),
    ("passageiro", "passenger"),
    ("passeggero", "passenger"),
    ("pasazer*", "passenger"),
    ("patient*", "patient"),
    ("paciente", "patient"),
    ("paziente", "patient"),
    ("pacjent*", "patient"),
    ("hasta", "patient"),
    ("pasien", "patient"),
    ("пациент*", "patient"),
    ("mitglied*", "member"),
    ("membre", "member"),
    ("miembro", "member"),
    ("membro", "member"),
    ("lid", "member"),
    ("czlonek", "member"),
    ("uye", "member"),
    ("anggota", "member"),
    ("участник*", "member"),
    ("会員", "member"),
    ("会员", "member"),
    ("회원", "member"),
    ("vollstandig*", "full"),
    ("ganzer", "full"),
    ("полн*", "full"),
    ("gast", "guest"),
    ("invite", "guest"),
    ("huesped", "guest"),
    ("hospede", "guest"),
    ("ospite", "guest"),
    ("kontakt*", "contact"),
    ("contacto", "contact"),
    ("contato", "contact"),
    ("contatto", "contact"),
    ("контакт*", "contact"),
    ("person", "person"),
    ("personne", "person"),
    ("persona", "person"),
    ("pessoa", "person"),
    ("persoon", "person"),
    ("osoba", "person"),
    ("kisi", "person"),
    ("orang", "person"),
    ("человек", "person"),
    // ---- demographics
    ("geschlecht", "gender"),
    ("sexe", "gender"),
    ("genero", "gender"),
    ("sesso", "gender"),
    ("genere", "gender"),
    ("geslacht", "gender"),
    ("plec", "gender"),
    ("pohlavi", "gender"),
    ("kon", "gender"),
    ("kjonn", "gender"),
    ("sukupuoli", "gender"),
    ("cinsiyet", "gender"),
    ("kelamin", "gender"),
    ("jantina", "gender"),
    ("sex", "sex"),
    ("пол", "gender"),
    ("стать", "gender"),
    ("φυλο", "gender"),
    ("性別", "gender"),
    ("性别", "gender"),
    ("성별", "gender"),
    ("الجنس", "gender"),
    ("लिंग", "gender"),
    ("edad", "age"),
    ("idade", "age"),
    ("eta", "age"),
    ("leeftijd", "age"),
    ("wiek", "age"),
    ("vek", "age"),
    ("alder", "age"),
    ("alter", "age"),
    ("ika", "age"),
    ("yas", "age"),
    ("umur", "age"),
    ("usia", "age"),
    ("varsta", "age"),
    ("возраст", "age"),
    ("вік", "age"),
    ("ηλικια", "age"),
    ("年齢", "age"),
    ("年龄", "age"),
    ("나이", "age"),
    ("العمر", "age"),
    ("عمر", "age"),
    ("उम्र", "age"),
    ("आयु", "age"),
    // ---- other: products, versions (so the flags see them)
    ("produkt*", "product"),
    ("produit*", "product"),
    ("producto*", "product"),
    ("produto*", "product"),
    ("prodotto", "product"),
    ("artikel", "item"),
    ("article", "item"),
    ("articulo", "item"),
    ("warenkorb", "cart"),
    ("panier", "cart"),
    ("carrito", "cart"),
    ("carrinho", "cart"),
    ("carrello", "cart"),
    ("winkelwagen", "cart"),
    ("koszyk", "cart"),
    ("sepet", "cart"),
    ("keranjang", "cart"),
    ("商品", "product"),
    ("产品", "product"),
    ("상품", "product"),
    ("version", "version"),
    ("versao", "version"),
    ("versione", "version"),
    ("wersja", "version"),
    ("surum", "version"),
    ("versi", "version"),
    ("версия", "version"),
    ("standort", "location"),
    ("ubicacion", "location"),
    ("localizacao", "location"),
    ("posizione", "location"),
    ("lokalizacja", "location"),
    ("konum", "location"),
    ("lokasi", "location"),
    ("местоположение", "location"),
    ("位置", "location"),
    ("위치", "location"),
    ("موقع", "location"),
];

/// Marks a piece of a compound that is an English word already.
const ENGLISH: &str = "\u{0}";

/// Stems abbreviations may expand to (prefix or consonant skeleton of exactly one canonical
/// meaning). Short English words that are common abbreviations of something else (`dev`,
/// `pos`, `add`, `car`, `gen`, `use`, `sec`, `acc`) are never expanded.
const ABBREVIATION_TARGETS: &[(&str, &str)] = &[
    ("email", "email"),
    ("phone", "phone"),
    ("telefon", "phone"),
    ("telephone", "phone"),
    ("mobile", "mobile"),
    ("user", "user"),
    ("benutzer", "user"),
    ("name", "name"),
    ("number", "number"),
    ("nummer", "number"),
    ("numero", "number"),
    ("address", "address"),
    ("adresse", "address"),
    ("password", "password"),
    ("passwort", "password"),
    ("birth", "birth"),
    ("geburt", "birth"),
    ("date", "date"),
    ("datum", "date"),
    ("card", "card"),
    ("karte", "card"),
    ("credit", "credit"),
    ("social", "social"),
    ("sozial", "social"),
    ("security", "security"),
    ("insurance", "insurance"),
    ("versicherung", "insurance"),
    ("national", "national"),
    ("passport", "passport"),
    ("licence", "licence"),
    ("license", "licence"),
    ("street", "street"),
    ("strasse", "street"),
    ("postal", "postal"),
    ("postcode", "postcode"),
    ("city", "city"),
    ("latitude", "latitude"),
    ("longitude", "longitude"),
    ("token", "token"),
    ("secret", "secret"),
    ("first", "first"),
    ("family", "family"),
    ("given", "given"),
    ("surname", "surname"),
    ("account", "account"),
    ("customer", "customer"),
    ("gender", "gender"),
    ("birthday", "birthday"),
    ("signature", "signature"),
];

const NEVER_EXPAND: &[&str] = &[
    "dev", "pos", "add", "car", "gen", "use", "sec", "acc", "act", "cat", "cnt", "ctx", "env", "err", "evt", "fmt",
    "idx", "img", "len", "lib", "log", "max", "min", "msg", "nav", "obj", "opt", "pct", "pkg", "ptr", "qty", "ref",
    "req", "res", "src", "std", "sub", "sum", "tmp", "txt", "url", "val", "var", "dst", "btn", "col", "row", "doc",
    "tab", "tag", "tip", "top", "dir", "sig", "pin", "ids", "nat", "per", "pre", "pro", "cap", "fam", "sur", "sec",
    "set", "get", "put", "pop", "bus", "div", "mod",
];

struct Tables {
    exact: HashMap<String, &'static str>,
    /// (stem, canonical) for entries that also match inflected forms.
    inflected: Vec<(String, &'static str)>,
    /// Longest entry, in characters, among single-word entries (bounds compound splitting).
    longest: usize,
}

static TABLES: LazyLock<Tables> = LazyLock::new(|| {
    let mut exact = HashMap::new();
    let mut inflected = Vec::new();
    let mut longest = 0;
    for &(stem, canon) in VOCABULARY {
        let (stem, slack) = match stem.strip_suffix('*') {
            Some(s) => (s, true),
            None => (stem, false),
        };
        let folded = fold(stem);
        if !folded.contains(' ') {
            longest = longest.max(folded.chars().count());
        }
        if slack {
            inflected.push((folded.clone(), canon));
        }
        exact.entry(folded).or_insert(canon);
    }
    // Longer stems first, so `personalausweis` wins over `ausweis`.
    inflected.sort_by_key(|(s, _)| std::cmp::Reverse(s.chars().count()));
    Tables {
        exact,
        inflected,
        longest,
    }
});

/// Lowercase with Latin diacritics folded away, Arabic and Devanagari marks normalised.
pub fn fold(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    for c in word.chars() {
        for c in c.to_lowercase() {
            match c {
                'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => out.push('a'),
                'æ' => out.push_str("ae"),
                'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => out.push('c'),
                'ď' | 'đ' | 'ð' => out.push('d'),
                'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => out.push('e'),
                'ĝ' | 'ğ' | 'ġ' | 'ģ' => out.push('g'),
                'ĥ' | 'ħ' => out.push('h'),
                'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => out.push('i'),
                'ĵ' => out.push('j'),
                'ķ' => out.push('k'),
                'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => out.push('l'),
                'ñ' | 'ń' | 'ņ' | 'ň' => out.push('n'),
                'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => out.push('o'),
                'œ' => out.push_str("oe"),
                'ŕ' | 'ŗ' | 'ř' => out.push('r'),
                'ś' | 'ŝ' | 'ş' | 'š' | 'ș' => out.push('s'),
                'ß' => out.push_str("ss"),
                'ţ' | 'ť' | 'ŧ' | 'ț' => out.push('t'),
                'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => out.push('u'),
                'ŵ' => out.push('w'),
                'ý' | 'ÿ' | 'ŷ' => out.push('y'),
                'ź' | 'ż' | 'ž' => out.push('z'),
                'þ' => out.push_str("th"),
                // Greek tonos and dialytika.
                'ά' => out.push('α'),
                'έ' => out.push('ε'),
                'ή' => out.push('η'),
                'ί' | 'ϊ' | 'ΐ' => out.push('ι'),
                'ό' => out.push('ο'),
                'ύ' | 'ϋ' | 'ΰ' => out.push('υ'),
                'ώ' => out.push('ω'),
                'ς' => out.push('σ'),
                'ё' => out.push('е'),
                // Arabic: hamza forms of alif, taa marbuta, alif maqsura, tatweel and harakat.
                'أ' | 'إ' | 'آ' => out.push('ا'),
                '\u{0640}' | '\u{064B}'..='\u{0652}' => {}
                // Devanagari nukta (फ़ → फ).
                '\u{093C}' => {}
                _ => out.push(c),
            }
        }
    }
    out
}

fn exact(word: &str) -> Option<&'static str> {
    TABLES.exact.get(word).copied()
}

/// A vocabulary entry for one folded word: exact, then inflected forms (up to three more
/// characters after a stem of four or more), then Arabic words without their article.
fn lookup(word: &str) -> Option<&'static str> {
    if let Some(c) = exact(word) {
        return Some(c);
    }
    for (stem, canon) in &TABLES.inflected {
        if let Some(rest) = word.strip_prefix(stem.as_str())
            && stem.chars().count() >= 4
            && rest.chars().count() <= 3
        {
            return Some(canon);
        }
    }
    if let Some(rest) = word.strip_prefix("ال").filter(|r| r.chars().count() >= 2) {
        return exact(rest);
    }
    None
}

/// Characters of scripts written without spaces between words.
fn unspaced(c: char) -> bool {
    matches!(c,
        '\u{3040}'..='\u{30FF}' // Hiragana, Katakana
        | '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' // Han
        | '\u{AC00}'..='\u{D7AF}' | '\u{1100}'..='\u{11FF}' // Hangul
    )
}

/// An abbreviation's expansion: the only meaning among targets it is a prefix or consonant
/// skeleton of.
fn expand_abbreviation(word: &str) -> Option<&'static str> {
    let b = word.as_bytes();
    if !(3..=6).contains(&b.len()) || !b.iter().all(u8::is_ascii_lowercase) || NEVER_EXPAND.contains(&word) {
        return None;
    }
    let vowels_after_first = b[1..].iter().any(|c| b"aeiou".contains(c));
    let mut meaning: Option<&'static str> = None;
    for &(target, canon) in ABBREVIATION_TARGETS {
        let t = target.as_bytes();
        if t.len() <= b.len() || t[0] != b[0] {
            continue;
        }
        let prefix = t.starts_with(b);
        let skeleton = !vowels_after_first && subsequence(b, t);
        if prefix || skeleton {
            match meaning {
                Some(m) if m != canon => return None,
                _ => meaning = Some(canon),
            }
        }
    }
    meaning
}

fn subsequence(needle: &[u8], hay: &[u8]) -> bool {
    let mut it = hay.iter();
    needle.iter().all(|c| it.any(|h| h == c))
}

/// Groups of English words for a key's words (see the module docs). `known` says whether a
/// word is already one the English tables use.
pub fn canonical(words: &[String], known: &dyn Fn(&str) -> bool) -> Vec<Vec<String>> {
    let folded: Vec<String> = words.iter().map(|w| fold(w)).collect();
    let mut out: Vec<Vec<String>> = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < folded.len() {
        // Runs of three and two words (`mot de passe`, `kata sandi`).
        let mut matched = false;
        for n in [3, 2] {
            if i + n <= folded.len() {
                let run = folded[i..i + n].join(" ");
                if let Some(canon) = exact(&run) {
                    push_canon(&mut out, canon);
                    i += n;
                    matched = true;
                    break;
                }
            }
        }
        if matched {
            continue;
        }
        let w = &folded[i];
        i += 1;
        if known(w) {
            out.push(vec![w.clone()]);
            continue;
        }
        if let Some(canon) = lookup(w) {
            push_canon(&mut out, canon);
            continue;
        }
        let len = w.chars().count();
        if len <= 40 && (len >= 6 || w.chars().any(unspaced)) {
            let cjk = w.chars().any(unspaced);
            let piece = |p: &str| -> Option<&'static str> {
                if known(p) && (p.len() >= 3 || cjk) && p.is_ascii() {
                    // An English piece stands for itself (recovered from the text).
                    return Some(ENGLISH);
                }
                exact(p)
            };
            let min = if cjk { 1 } else { 3 };
            if let Some(pieces) = split_mixed(w, &piece, min) {
                out.extend(pieces);
                continue;
            }
        }
        if let Some(canon) = expand_abbreviation(w) {
            push_canon(&mut out, canon);
            continue;
        }
        out.push(vec![w.clone()]);
    }
    out.retain(|g| !g.is_empty());
    out
}

/// Splits a word at script changes (`ip地址`), then each part into known pieces. English
/// pieces (marked by `piece` returning NUL) are recovered from the word itself.
fn split_mixed(word: &str, piece: &dyn Fn(&str) -> Option<&'static str>, min: usize) -> Option<Vec<Vec<String>>> {
    let mut parts: Vec<&str> = Vec::new();
    let mut start = 0;
    let mut prev: Option<bool> = None;
    for (i, c) in word.char_indices() {
        let u = unspaced(c);
        if prev.is_some_and(|p| p != u) {
            parts.push(&word[start..i]);
            start = i;
        }
        prev = Some(u);
    }
    parts.push(&word[start..]);
    let mut out = Vec::new();
    for part in parts {
        if let Some(c) = piece(part).filter(|c| *c != ENGLISH) {
            out.push(group(c));
            continue;
        }
        if piece(part) == Some(ENGLISH) {
            out.push(vec![part.to_string()]);
            continue;
        }
        // Each piece's position is needed to recover English words: split by hand.
        let pieces = split_with_text(part, piece, min)?;
        out.extend(pieces);
    }
    (out.len() >= 2 || word.chars().any(unspaced)).then_some(out)
}

fn split_with_text(word: &str, piece: &dyn Fn(&str) -> Option<&'static str>, min: usize) -> Option<Vec<Vec<String>>> {
    // Indices of the segmentation `split_known` finds, recomputed here with the texts.
    let chars: Vec<(usize, char)> = word.char_indices().collect();
    let n = chars.len();
    let at = |i: usize| chars.get(i).map_or(word.len(), |&(b, _)| b);
    let longest = TABLES.longest.max(12);
    let mut best: Vec<Option<Vec<Vec<String>>>> = vec![None; n + 1];
    best[n] = Some(Vec::new());
    for i in (0..n).rev() {
        for len in (min..=longest.min(n - i)).rev() {
            let text = &word[at(i)..at(i + len)];
            let Some(canon) = piece(text) else { continue };
            let g = if canon == ENGLISH {
                vec![text.to_string()]
            } else {
                group(canon)
            };
            let next = if best[i + len].is_some() {
                Some(i + len)
            } else if i + len < n
                && chars[i + len].1 == 's'
                && best[i + len + 1].as_ref().is_some_and(|r| !r.is_empty())
            {
                Some(i + len + 1)
            } else {
                None
            };
            if let Some(j) = next
                && let Some(rest) = &best[j]
            {
                let mut v = vec![g];
                v.extend(rest.iter().cloned());
                best[i] = Some(v);
                break;
            }
        }
    }
    best[0].take().filter(|v| v.len() >= 2 || word.chars().any(unspaced))
}

fn group(canon: &str) -> Vec<String> {
    canon.split(' ').filter(|w| !w.is_empty()).map(str::to_string).collect()
}

fn push_canon(out: &mut Vec<Vec<String>>, canon: &str) {
    out.push(group(canon));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(key: &str) -> Vec<String> {
        let words = super::super::keys::words(key);
        canonical(&words, &|w| super::super::keys::is_known_word(w))
            .into_iter()
            .flatten()
            .collect()
    }

    #[test]
    fn folds_diacritics_and_scripts() {
        assert_eq!(fold("Prénom"), "prenom");
        assert_eq!(fold("Straße"), "strasse");
        assert_eq!(fold("Łódź"), "lodz");
        assert_eq!(fold("şifre"), "sifre");
        assert_eq!(fold("ΌΝΟΜΑ"), "ονομα");
        assert_eq!(fold("फ़ोन"), "फोन");
    }

    #[test]
    fn words_in_other_languages_become_english() {
        let cases: &[(&str, &[&str])] = &[
            ("Geburtsdatum", &["birth", "date"]),
            ("Kartennummer", &["card", "number"]),
            ("SOZ_VERS_NR", &["social", "insurance", "number"]),
            ("usr_eml", &["user", "email"]),
            ("numéro de téléphone", &["number", "telephone"]),
            ("дата_рождения", &["date", "birth"]),
            ("電話番号", &["phone", "number"]),
            ("생년월일", &["date", "of", "birth"]),
            ("mot_de_passe", &["password"]),
            ("ip地址", &["ip", "address"]),
            ("useremail", &["user", "email"]),
        ];
        for &(key, want) in cases {
            assert_eq!(canon(key), want, "{key}");
        }
    }

    #[test]
    fn abbreviations_need_one_meaning() {
        assert_eq!(expand_abbreviation("usr"), Some("user"));
        assert_eq!(expand_abbreviation("eml"), Some("email"));
        assert_eq!(expand_abbreviation("dev"), None);
        assert_eq!(expand_abbreviation("pas"), None, "password or passport");
        assert_eq!(expand_abbreviation("xyz"), None);
    }
}
