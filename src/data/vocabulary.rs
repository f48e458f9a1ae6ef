//! Word lists the generator draws from: Faker-style country and person names, and the words that
//! make up titles, descriptions, poster names and tags.

/// The 13 categories, in the alphabetical order their blocks follow in key order.
pub const CATEGORIES: [&str; 13] = [
    "art",
    "beauty",
    "christmas",
    "diy-and-crafts",
    "education",
    "event-planning",
    "finance",
    "home-decor",
    "mens-fashion",
    "quotes",
    "tattoos",
    "travel",
    "vehicles",
];

/// Faker's `en_US` country list, in its own order (the source skews toward its start).
#[rustfmt::skip]
pub const COUNTRIES: &[&str] = &[
    "Afghanistan", "Albania", "Algeria", "American Samoa", "Andorra", "Angola", "Anguilla",
    "Antarctica (the territory South of 60 deg S)", "Antigua and Barbuda", "Argentina", "Armenia",
    "Aruba", "Australia", "Austria", "Azerbaijan", "Bahamas", "Bahrain", "Bangladesh", "Barbados",
    "Belarus", "Belgium", "Belize", "Benin", "Bermuda", "Bhutan", "Bolivia",
    "Bosnia and Herzegovina", "Botswana", "Bouvet Island (Bouvetoya)", "Brazil",
    "British Indian Ocean Territory (Chagos Archipelago)", "British Virgin Islands",
    "Brunei Darussalam", "Bulgaria", "Burkina Faso", "Burundi", "Cambodia", "Cameroon", "Canada",
    "Cape Verde", "Cayman Islands", "Central African Republic", "Chad", "Chile", "China",
    "Christmas Island", "Cocos (Keeling) Islands", "Colombia", "Comoros", "Congo", "Cook Islands",
    "Costa Rica", "Cote d'Ivoire", "Croatia", "Cuba", "Cyprus", "Czech Republic", "Denmark",
    "Djibouti", "Dominica", "Dominican Republic", "Ecuador", "Egypt", "El Salvador",
    "Equatorial Guinea", "Eritrea", "Estonia", "Ethiopia", "Faroe Islands",
    "Falkland Islands (Malvinas)", "Fiji", "Finland", "France", "French Guiana",
    "French Polynesia", "French Southern Territories", "Gabon", "Gambia", "Georgia", "Germany",
    "Ghana", "Gibraltar", "Greece", "Greenland", "Grenada", "Guadeloupe", "Guam", "Guatemala",
    "Guernsey", "Guinea", "Guinea-Bissau", "Guyana", "Haiti", "Heard Island and McDonald Islands",
    "Holy See (Vatican City State)", "Honduras", "Hong Kong", "Hungary", "Iceland", "India",
    "Indonesia", "Iran", "Iraq", "Ireland", "Isle of Man", "Israel", "Italy", "Jamaica", "Japan",
    "Jersey", "Jordan", "Kazakhstan", "Kenya", "Kiribati", "Korea", "Korea", "Kuwait",
    "Kyrgyz Republic", "Lao People's Democratic Republic", "Latvia", "Lebanon", "Lesotho",
    "Liberia", "Libyan Arab Jamahiriya", "Liechtenstein", "Lithuania", "Luxembourg", "Macao",
    "Madagascar", "Malawi", "Malaysia", "Maldives", "Mali", "Malta", "Marshall Islands",
    "Martinique", "Mauritania", "Mauritius", "Mayotte", "Mexico", "Micronesia", "Moldova",
    "Monaco", "Mongolia", "Montenegro", "Montserrat", "Morocco", "Mozambique", "Myanmar",
    "Namibia", "Nauru", "Nepal", "Netherlands Antilles", "Netherlands", "New Caledonia",
    "New Zealand", "Nicaragua", "Niger", "Nigeria", "Niue", "Norfolk Island", "North Macedonia",
    "Northern Mariana Islands", "Norway", "Oman", "Pakistan", "Palau", "Palestinian Territory",
    "Panama", "Papua New Guinea", "Paraguay", "Peru", "Philippines", "Pitcairn Islands", "Poland",
    "Portugal", "Puerto Rico", "Qatar", "Reunion", "Romania", "Russian Federation", "Rwanda",
    "Saint Barthelemy", "Saint Helena", "Saint Kitts and Nevis", "Saint Lucia", "Saint Martin",
    "Saint Pierre and Miquelon", "Saint Vincent and the Grenadines", "Samoa", "San Marino",
    "Sao Tome and Principe", "Saudi Arabia", "Senegal", "Serbia", "Seychelles", "Sierra Leone",
    "Singapore", "Slovakia (Slovak Republic)", "Slovenia", "Solomon Islands", "Somalia",
    "South Africa", "South Georgia and the South Sandwich Islands", "Spain", "Sri Lanka", "Sudan",
    "Suriname", "Svalbard & Jan Mayen Islands", "Swaziland", "Sweden", "Switzerland",
    "Syrian Arab Republic", "Taiwan", "Tajikistan", "Tanzania", "Thailand", "Timor-Leste", "Togo",
    "Tokelau", "Tonga", "Trinidad and Tobago", "Tunisia", "Turkey", "Turkmenistan",
    "Turks and Caicos Islands", "Tuvalu", "Uganda", "Ukraine", "United Arab Emirates",
    "United Kingdom", "United States of America", "United States Minor Outlying Islands",
    "United States Virgin Islands", "Uruguay", "Uzbekistan", "Vanuatu", "Venezuela", "Vietnam",
    "Wallis and Futuna", "Western Sahara", "Yemen", "Zambia", "Zimbabwe",
];

#[rustfmt::skip]
pub const FIRST_NAMES: &[&str] = &[
    "Aaron", "Abigail", "Adam", "Alexander", "Alexandra", "Alicia", "Amanda", "Amber", "Andrea",
    "Andrew", "Angela", "Anthony", "Ashley", "Benjamin", "Brandon", "Brian", "Brittany", "Caleb",
    "Carlos", "Catherine", "Charles", "Christina", "Christopher", "Cody", "Courtney", "Crystal",
    "Daniel", "David", "Denise", "Derek", "Donna", "Dylan", "Elizabeth", "Emily", "Eric", "Erin",
    "Gabriel", "Grace", "Heather", "Jacob", "James", "Jamie", "Jason", "Jennifer", "Jessica",
    "John", "Jonathan", "Jordan", "Joseph", "Joshua", "Julie", "Justin", "Karen", "Katherine",
    "Kayla", "Kelly", "Kevin", "Kimberly", "Kyle", "Laura", "Lauren", "Linda", "Lisa", "Mark",
    "Mary", "Matthew", "Megan", "Melissa", "Michael", "Michelle", "Natalie", "Nicole", "Patrick",
    "Paul", "Rachel", "Rebecca", "Richard", "Robert", "Ryan", "Samantha", "Sandra", "Sarah",
    "Scott", "Sean", "Stephanie", "Steven", "Tammy", "Thomas", "Tiffany", "Timothy", "Tyler",
    "Valerie", "Victoria", "William", "Zachary",
];

#[rustfmt::skip]
pub const LAST_NAMES: &[&str] = &[
    "Adams", "Allen", "Alvarez", "Anderson", "Bailey", "Baker", "Barnes", "Bell", "Bennett",
    "Brooks", "Brown", "Butler", "Campbell", "Carter", "Castillo", "Chavez", "Clark", "Collins",
    "Cook", "Cooper", "Cox", "Cruz", "Davis", "Diaz", "Edwards", "Evans", "Fisher", "Flores",
    "Foster", "Garcia", "Gomez", "Gonzalez", "Gray", "Green", "Griffin", "Gutierrez", "Hall",
    "Harris", "Hernandez", "Hill", "Howard", "Hughes", "Jackson", "James", "Jenkins", "Johnson",
    "Jones", "Kelly", "Kim", "King", "Lee", "Lewis", "Long", "Lopez", "Martin", "Martinez",
    "Miller", "Mitchell", "Moore", "Morales", "Morgan", "Morris", "Murphy", "Myers", "Nelson",
    "Nguyen", "Ortiz", "Parker", "Perez", "Perry", "Peterson", "Phillips", "Powell", "Price",
    "Ramirez", "Reed", "Reyes", "Richardson", "Rivera", "Roberts", "Robinson", "Rodriguez",
    "Rogers", "Ross", "Russell", "Sanchez", "Sanders", "Scott", "Smith", "Stewart", "Sullivan",
    "Taylor", "Thomas", "Thompson", "Torres", "Turner", "Walker", "Ward", "Watson", "White",
    "Williams", "Wilson", "Wood", "Wright", "Young",
];

/// Words for titles, descriptions and tags, per category (same order as `CATEGORIES`).
#[rustfmt::skip]
pub const CATEGORY_WORDS: [&[&str]; 13] = [
    &["art", "painting", "drawing", "sketch", "watercolor", "canvas", "abstract", "portrait", "illustration", "acrylic", "gallery", "artist"],
    &["beauty", "makeup", "skincare", "hair", "nails", "lipstick", "eyeshadow", "glow", "routine", "serum", "brows", "lashes"],
    &["christmas", "xmas", "holiday", "ornaments", "tree", "wreath", "gifts", "santa", "festive", "winter", "cookies", "lights"],
    &["diy", "crafts", "handmade", "upcycle", "sewing", "paper", "glue", "projects", "kids", "easy", "homemade", "craft ideas"],
    &["education", "teaching", "classroom", "learning", "kids", "school", "printable", "math", "reading", "science", "worksheet", "homeschool"],
    &["party", "wedding", "birthday", "event", "planning", "decorations", "theme", "celebration", "invitations", "shower", "venue", "checklist"],
    &["finance", "money", "budget", "saving", "investing", "debt", "frugal", "income", "tips", "retirement", "side hustle", "budgeting"],
    &["home", "decor", "living room", "bedroom", "interior", "design", "cozy", "farmhouse", "shelves", "rug", "plants", "kitchen"],
    &["mens", "fashion", "style", "outfit", "suit", "streetwear", "casual", "shoes", "watch", "jacket", "grooming", "menswear"],
    &["quotes", "inspiration", "motivation", "life", "love", "words", "sayings", "positive", "wisdom", "happiness", "mindset", "affirmations"],
    &["tattoo", "ink", "tattoos", "design", "sleeve", "minimalist", "floral", "linework", "small tattoo", "script", "fine line", "flash"],
    &["travel", "destinations", "beach", "adventure", "wanderlust", "roadtrip", "europe", "island", "backpacking", "hiking", "city", "bucket list"],
    &["cars", "vehicles", "trucks", "classic", "motorcycle", "custom", "racing", "jeep", "vintage", "engine", "suv", "offroad"],
];

/// Words every category shares.
#[rustfmt::skip]
pub const COMMON_WORDS: &[&str] = &[
    "the", "best", "ideas", "for", "your", "new", "how", "to", "make", "simple", "beautiful",
    "amazing", "easy", "with", "and", "of", "a", "in", "on", "this", "year", "guide", "tips",
    "favorite", "creative", "modern", "cute", "perfect", "little", "great", "free", "love",
];

/// Second halves of poster names ("Bright Art Studio", "The Budget Mom").
#[rustfmt::skip]
pub const POSTER_SUFFIXES: &[&str] = &[
    "Studio", "Co.", "Blog", "Magazine", "Designs", "Life", "Daily", "Collective", "Shop",
    "Journal", "Club", "World", "Hub", "Lab", "& Co", "Mom", "Guy", "Society",
];
