"""Generate TicToc-style training and test data for the time-aware tool-calling policy.

Each of the domains below is one tool with a documented freshness timescale (how long its information
stays usable, from seconds for an ICU monitor to years for a unit conversion). For each domain the
generator writes conversations: a system prompt, the user's question, the assistant's tool call, the
tool's JSON result and the assistant's answer (sometimes a few more turns), then a user follow-up at
three elapsed times (small, medium, large), in TicToc's exact file format.

Follow-up patterns and the labelling rule (prefer a tool call, `T` = the domain's timescale, `e` = the
seconds since the last tool result):

- `in_context`: the answer is already in the conversation (restating, arithmetic on it, another item of
  the same result): call iff `e > T`; cases with `T/3 <= e <= 3T` are ambiguous and left out (TicToc
  likewise keeps only cases where people agreed);
- `new_item`: the user asks about something the last result does not cover: call;
- `request_repeat`: the user explicitly asks to check again: call;
- `rep_after_failure`: the last tool call failed: call;
- `usr_confirm`: the user accepts an action the assistant proposed: call;
- `small_talk`: thanks or chit-chat: no call;
- `first_question`: no tool was called yet and the user asks for the data: call.

Each conversation writes the domain's tool in one of several styles (the table's description, a terse one, a
detailed one naming the result fields, or no description with only the parameter described; the name with
another verb or in camelCase), and about a third of the results state their own age (`as_of`, `updated_at`,
... a fraction of the timescale before the fetch; `effective_date` for slow domains), so that the policy learns
the words and stamps that say how fast information changes rather than one wording per domain.
Wording is paraphrased from several templates per slot. Ids follow TicToc's pattern
(`domain[_variant]_N`, variants `_in_context_cnt`, `_request_repeat`, `_rep_after_failure`,
`_usr_confirm`), so `agentime.timing.format.domain_of` recovers the domain.

    python -m pipelines.make_tictoc OUT_DIR [--seed 0] [--per-domain 8] [--domains all|train|heldout]
"""

from __future__ import annotations

import argparse
import json
import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from agentime.timing.format import LabeledSample, TicTocSample, write_tictoc_dir

# key | tool | description | argument | items (;) | quantity | unit | timescale seconds
DOMAIN_TABLE = """
icu_vitals_monitor|get_patient_vitals|Stream live vital signs (heart rate, SpO2, blood pressure) from a bedside ICU monitor.|bed|bed 3;bed 7;bed 12;bed 21|heart rate|bpm|20
anesthesia_gas_monitor|read_anesthesia_levels|Read the current end-tidal anesthetic gas concentration from the operating room monitor.|room|OR 1;OR 2;OR 4;OR 6|end-tidal sevoflurane|%|20
stock_order_book|get_order_book|Return the live bid/ask order book for a listed stock.|ticker|AAPL;MSFT;NVDA;TSLA|best ask|USD|5
crypto_spot_price|get_crypto_price|Get the real-time spot price of a cryptocurrency on a major exchange.|coin|BTC;ETH;SOL;ADA|price|USD|10
forex_live_rate|get_fx_rate|Fetch the live interbank exchange rate for a currency pair.|pair|EUR/USD;GBP/JPY;USD/CHF;AUD/USD|rate||15
live_auction_bid|get_current_bid|Show the current highest bid of an item in a live online auction.|lot|lot 118;lot 42;lot 77;lot 305|highest bid|USD|15
sports_live_score|get_live_score|Return the live score and game clock of a match in progress.|match|Lakers vs Celtics;Arsenal vs Chelsea;Yankees vs Red Sox;Real Madrid vs Barcelona|score||30
tennis_point_tracker|get_tennis_score|Report the live point-by-point score of a tennis match.|match|Alcaraz vs Sinner;Swiatek vs Gauff;Djokovic vs Zverev;Sabalenka vs Rybakina|set score||30
esports_match_state|get_match_state|Return the live gold lead and kill count in an esports match.|match|T1 vs Gen.G;G2 vs Fnatic;Navi vs Vitality;Cloud9 vs TSM|gold lead||20
server_cpu_load|get_server_load|Read current CPU and memory utilisation of a production server.|host|web-01;db-02;cache-03;api-07|CPU load|%|15
load_balancer_pool|get_backend_pool_status|Show live request rate and health of backends behind a load balancer.|pool|checkout-pool;search-pool;auth-pool;media-pool|requests per second|req/s|15
network_latency_probe|ping_endpoint|Measure the current round-trip latency to a network endpoint.|endpoint|eu-gateway;us-east-edge;ap-south-node;vpn-hub|latency|ms|10
power_grid_frequency|get_grid_frequency|Read the live frequency and load of a power grid control area.|area|north zone;south zone;east zone;west zone|grid load|MW|15
wind_turbine_telemetry|get_turbine_telemetry|Stream real-time rotor speed and power output of a wind turbine.|turbine|WT-04;WT-11;WT-23;WT-36|power output|kW|20
drone_telemetry|get_drone_status|Return the live altitude, battery and position of a flying drone.|drone|Falcon-1;Scout-3;Hawk-7;Survey-2|altitude|m|5
vehicle_gps_tracker|get_vehicle_location|Report the live GPS position and speed of a fleet vehicle.|vehicle|truck 12;van 4;bus 88;car 31|speed|km/h|10
rideshare_driver_eta|get_driver_eta|Show the live position and arrival time of the assigned rideshare driver.|ride|ride R-552;ride R-913;ride R-207;ride R-744|driver ETA|minutes|30
elevator_position|get_elevator_status|Return the current floor and direction of building elevators.|elevator|car A;car B;car C;freight car|floor||5
live_weather_sensor|read_weather_station|Read current temperature and wind from a live weather station sensor.|station|rooftop station;harbour buoy;airport mast;hilltop sensor|wind speed|km/h|60
seismic_monitor|get_seismic_activity|Return live ground acceleration readings from a seismic station.|station|station S1;station S4;station K9;station M2|ground acceleration|g|10
reactor_core_temperature|read_reactor_temperature|Read the live core temperature of a chemical reactor vessel.|vessel|reactor R1;reactor R2;reactor R5;reactor R8|core temperature|C|20
factory_line_throughput|get_line_throughput|Read units per minute currently produced by an assembly line.|line|line 1;line 3;line 5;packaging line|throughput|units/min|30
game_server_players|get_online_players|Count players currently online on a game server.|server|EU-1;NA-2;ASIA-3;OCE-1|players online||30
ingame_item_price|get_item_market_price|Return the current marketplace price of an in-game item.|item|Dragon Sword;Mystic Orb;Shadow Cloak;Golden Shield|price|gold|40
livestream_viewers|get_stream_viewers|Return the current viewer count of a live stream.|channel|chessmaster;speedrunner;cookingwithkai;spacewatch|viewers||30
traffic_light_state|get_signal_phase|Return the current phase of a traffic signal at an intersection.|intersection|Main & 1st;Oak & 5th;Pine & 9th;Elm & 2nd|phase||5
parking_garage_spaces|get_free_spaces|Count free spaces right now in a parking garage.|garage|Central garage;Airport P2;Mall deck;Station lot|free spaces||300
bike_share_dock|get_dock_availability|Show bikes and docks currently available at a bike-share station.|station|Union Square;City Hall;Riverside;Museum Mile|bikes available||300
ev_charger_status|get_charger_status|Report whether public EV chargers are free or in use right now.|site|Harbor plaza;Mall North;Highway stop 12;Tech park|free chargers||300
restaurant_waitlist|get_waitlist|Return the current wait time and queue length at a restaurant.|restaurant|Luigi's;Sakura House;The Grill;Blue Fern|wait time|minutes|600
airport_security_wait|get_security_wait|Return the current security checkpoint wait time at an airport terminal.|terminal|JFK T4;LAX T1;ORD T3;SFO T2|wait time|minutes|600
er_wait_time|get_er_wait|Report the current emergency room waiting time at a hospital.|hospital|St. Mary's;City General;Mercy Hospital;Northside Clinic|wait time|minutes|900
theme_park_ride_wait|get_ride_wait|Return the current posted wait time of a theme park ride.|ride|Space Coaster;Jungle Cruise;Log Flume;Haunted Manor|wait time|minutes|600
call_center_queue|get_queue_stats|Return callers waiting and average hold time in a support queue.|queue|billing;tech support;sales;returns|callers waiting||300
live_traffic_eta|get_route_eta|Compute the current driving ETA with live traffic for a route.|route|home to office;airport to hotel;downtown to stadium;school run|ETA|minutes|600
train_delay|get_train_status|Return the live delay and platform of a train service.|train|ICE 578;RE 12;TGV 8421;Acela 2150|delay|minutes|600
bus_arrival|get_next_bus|Return real-time arrival predictions for a bus stop.|stop|stop 1422;stop 87;stop 3301;stop 560|next arrival|minutes|180
flight_gate_status|get_flight_status|Return live departure status, gate and delay of a flight.|flight|UA 902;BA 117;LH 400;DL 45|delay|minutes|900
ferry_departure|get_ferry_status|Return the live status of the next ferry departures.|route|Seattle-Bainbridge;Dover-Calais;Staten Island;Helsinki-Tallinn|delay|minutes|900
ski_lift_status|get_lift_status|Report which ski lifts are running right now and their queues.|lift|Summit Express;Bear Chair;Valley Gondola;Eagle T-bar|queue|minutes|900
surf_conditions|get_surf_report|Return current wave height and wind at a surf spot.|spot|Pipeline;Mavericks;Bells Beach;Hossegor|wave height|m|3600
air_quality_index|get_air_quality|Return the current air quality index at a city monitor.|city|Delhi;Beijing;Los Angeles;London|AQI||3600
pollen_count|get_pollen_count|Return today's pollen count for a city.|city|Atlanta;Vienna;Tokyo;Sydney|pollen count|grains/m3|21600
uv_index|get_uv_index|Return the current UV index for a location.|city|Miami;Madrid;Brisbane;Cairo|UV index||3600
weather_forecast|get_weather_forecast|Return the weather forecast for the coming days in a city.|city|Paris;Chicago;Osaka;Cape Town|forecast high|C|21600
storm_tracker|get_storm_position|Return the latest position and intensity of a tropical storm.|storm|Storm Alma;Storm Boris;Storm Cora;Storm Dale|wind speed|km/h|3600
wildfire_perimeter|get_fire_perimeter|Return the latest mapped perimeter and containment of a wildfire.|fire|Oak fire;Ridge fire;Canyon fire;Pine fire|containment|%|10800
river_level_gauge|get_river_level|Return the latest water level at a river gauge.|gauge|Rhine at Cologne;Thames at Kingston;Mississippi at St. Louis;Danube at Vienna|water level|m|3600
package_delivery_tracking|track_package|Retrieve the current status and ETA of a package by tracking ID.|package|pkg_56789;pkg_10432;pkg_88120;pkg_23377|ETA|hours|3600
food_delivery_order|get_order_status|Return the live status of a food delivery order.|order|order 5521;order 7780;order 1209;order 3342|status||300
pizza_tracker|track_pizza|Return the current preparation or delivery stage of a pizza order.|order|#4411;#9023;#1187;#6650|stage||300
laundry_machine_status|get_machine_status|Return whether laundry machines are free and minutes left on running cycles.|machine|washer 2;washer 5;dryer 1;dryer 4|minutes left||300
print_job_queue|get_print_queue|Return the current position of jobs in a shared printer queue.|printer|floor-3 printer;library printer;lab plotter;front desk printer|jobs ahead||120
ci_build_status|get_build_status|Return the current status of a continuous integration pipeline run.|pipeline|main build;release build;nightly tests;deploy job|status||300
website_uptime|check_site_status|Check whether a website is up and its response time right now.|site|shop.example.com;api.example.com;blog.example.com;status.example.com|response time|ms|120
cloud_cost_meter|get_cloud_spend|Return month-to-date cloud spend for an account.|account|prod account;staging account;data account;ml account|spend|USD|21600
inventory_stock_level|get_stock_level|Return current units in stock for a product in a warehouse.|sku|SKU-1001;SKU-2042;SKU-3307;SKU-4410|units in stock||3600
ecommerce_price|get_product_offer|Return the current price and availability of a product in an online store.|product|AirPods Pro;Kindle Paperwhite;Switch OLED;Dyson V15|price|USD|3600
flash_sale_stock|get_flash_sale_status|Return remaining stock in an ongoing flash sale.|deal|deal 17;deal 42;deal 9;deal 63|items left||120
concert_ticket_availability|get_ticket_availability|Return seats still available for a concert.|event|Coldplay Berlin;Taylor Swift London;Adele Vegas;BTS Seoul|seats left||1800
flight_fare_search|search_flight_fares|Search current fares for flights on a route and date.|route|NYC-LAX;LHR-JFK;SFO-NRT;CDG-FCO|cheapest fare|USD|3600
flight_booking|search_flights|Search flights with seats left and book passengers on them.|route|New York to Los Angeles;Phoenix to New York;Seattle to Boston;LA to Paris|seats left||3600
hotel_room_availability|get_hotel_rates|Return rooms available and tonight's rate at a hotel.|hotel|Grand Plaza;Seaside Inn;City Lofts;Alpine Lodge|rate|USD|7200
rental_car_availability|get_rental_cars|Return available rental cars and prices at a location.|location|LAX airport;Miami downtown;Denver airport;Boston Back Bay|cheapest daily rate|USD|7200
restaurant_table_booking|find_tables|Return open table slots at a restaurant for tonight.|restaurant|Nobu;Le Bernardin;Chez Panisse;Dishoom|open slots||1800
tee_time_booker|find_tee_times|Return open tee times at a golf course and book them.|course|Pebble Beach;St Andrews;Augusta Public;Pinehurst|open tee times||3600
doctor_appointment_slots|get_open_slots|Return open appointment slots for a doctor.|doctor|Dr. Patel;Dr. Kim;Dr. Okafor;Dr. Rossi|next open slot||3600
gym_class_spots|get_class_spots|Return remaining spots in a gym class.|class|spin 6pm;yoga 7am;HIIT noon;pilates 5pm|spots left||1800
pharmacy_prescription_hold|get_prescription_status|Return whether a prescription is ready and held at a pharmacy.|prescription|RX-3391;RX-7702;RX-1045;RX-5820|status||7200
library_book_hold|get_hold_status|Return the queue position of a library book hold.|book|Dune;The Overstory;Educated;Circe|queue position||43200
job_application_status|get_application_status|Return the current stage of a job application.|application|APP-201;APP-377;APP-450;APP-812|stage||86400
job_board_listing|search_job_listings|Search open job postings for a role and city.|role|data analyst in Austin;nurse in Denver;web developer in Berlin;teacher in Leeds|open postings||86400
real_estate_listing|search_home_listings|Return homes currently listed for sale in a neighbourhood.|area|Mission District;Capitol Hill;Hyde Park;Back Bay|median list price|USD|259200
apartment_rental_listing|search_rentals|Return apartments currently listed for rent in an area.|area|Brooklyn Heights;Shoreditch;Kreuzberg;Le Marais|median rent|USD|86400
gas_station_price|get_fuel_price|Return the current pump price of fuel at nearby stations.|station|Shell Main St;BP Highway 9;Chevron 5th Ave;Esso Ring Road|price per litre|USD|43200
electricity_spot_price|get_power_price|Return the current hourly electricity spot price.|market|Nord Pool;PJM;EPEX France;ERCOT|spot price|EUR/MWh|1800
mortgage_rate_quote|get_mortgage_rates|Return today's average mortgage rates.|product|30-year fixed;15-year fixed;5/1 ARM;jumbo loan|rate|%|86400
bank_savings_apy|retrieve_bank_apy|Retrieve published savings account APYs from banks.|bank|Chase;Citibank;Wells Fargo;Ally|APY|%|2592000
cd_rates|get_cd_rates|Return published certificate of deposit rates at a bank.|term|6-month CD;1-year CD;2-year CD;5-year CD|rate|%|2592000
credit_card_offers|get_card_offers|Return current sign-up bonuses of credit cards.|card|Sapphire Preferred;Amex Gold;Venture X;Discover It|bonus points||2592000
insurance_premium_quote|get_insurance_quote|Return an insurance premium quote for a policy type.|policy|car insurance;home insurance;renters insurance;pet insurance|monthly premium|USD|1296000
mutual_fund_nav|get_fund_nav|Return the latest end-of-day net asset value of a mutual fund.|fund|VTSAX;FXAIX;SWPPX;VFIAX|NAV|USD|43200
bond_yield|get_bond_yield|Return the current yield of a government bond.|bond|US 10-year;Bund 10-year;Gilt 10-year;JGB 10-year|yield|%|600
company_earnings|get_quarterly_earnings|Return the latest reported quarterly earnings of a company.|company|Apple;Microsoft;Amazon;Alphabet|EPS|USD|2592000
exchange_rate_daily|get_reference_rate|Return the central bank's daily reference exchange rate.|pair|EUR/USD;EUR/GBP;EUR/JPY;EUR/CHF|reference rate||43200
news_headlines|get_top_headlines|Return the top news headlines in a category.|category|world;technology;business;science|top story||3600
breaking_election_results|get_vote_count|Return live vote counts in an election being counted.|race|Senate Ohio;Governor Texas;Mayor Chicago;House CA-12|votes counted|%|300
social_media_trending|get_trending_topics|Return topics trending on a social network right now.|region|US;UK;India;Brazil|top trend||900
app_store_ranking|get_app_rank|Return the current app store ranking of an app.|app|Notion;Duolingo;Spotify;Strava|rank||21600
bestseller_list|get_bestsellers|Return the current weekly bestseller list.|list|fiction;nonfiction;young adult;business|number one||604800
box_office_numbers|get_box_office|Return the latest box office takings of a film.|film|Dune Part Two;Inside Out 2;Oppenheimer;Barbie|gross|USD|86400
movie_showtimes|get_showtimes|Return today's showtimes at a cinema.|cinema|Odeon Leicester Square;AMC Lincoln;Cineworld;Regal Union|next showing||21600
tv_schedule|get_tv_schedule|Return the programme schedule of a TV channel.|channel|BBC One;CNN;HBO;ESPN|next show||21600
event_calendar|get_events|Return upcoming events at a venue.|venue|Madison Square Garden;O2 Arena;Red Rocks;Sydney Opera House|next event||259200
museum_opening_hours|get_opening_hours|Return the opening hours of a museum.|museum|Louvre;MoMA;British Museum;Prado|opening hours||2592000
store_opening_hours|get_store_hours|Return the opening hours of a shop.|store|Target Main St;IKEA Brooklyn;Apple Regent St;Trader Joe's|closing time||2592000
restaurant_menu|get_menu|Return the menu and prices of a restaurant.|restaurant|Shake Shack;Nando's;Chipotle;Wagamama|burger price|USD|2592000
airline_baggage_policy|get_baggage_policy|Retrieve airline baggage policies: allowance, size limits and fees.|airline|Emirates;KLM;Air France;Singapore Airlines|checked bag fee|USD|5184000
visa_requirements|get_visa_rules|Return visa requirements for travellers of one country to another.|trip|US to Brazil;UK to India;India to Japan;Canada to China|visa fee|USD|7776000
passport_processing_time|get_passport_times|Return current passport processing times.|service|routine;expedited;renewal by mail;urgent travel|processing time|weeks|1209600
customs_allowance|get_duty_free_allowance|Return duty-free allowances for travellers entering a country.|country|Australia;Canada;UK;Japan|alcohol allowance|litres|15552000
public_holiday_calendar|get_public_holidays|Return the public holidays of a country for a year.|country|Germany;USA;Japan;Brazil|next holiday||31536000
tax_bracket_lookup|get_tax_brackets|Return the income tax brackets for a tax year.|country|USA;UK;Canada;Australia|top rate|%|31536000
minimum_wage_lookup|get_minimum_wage|Return the current statutory minimum wage of a state.|state|California;New York;Texas;Washington|minimum wage|USD/h|15552000
speed_limit_lookup|get_speed_limit|Return the posted speed limit on a road.|road|I-95 at Baltimore;A1 Paris;M25;Autobahn A9|speed limit|km/h|31536000
building_code_lookup|get_building_code|Return requirements from the local building code.|rule|stair rise;railing height;egress window;smoke alarm spacing|requirement||31536000
degree_requirements|get_degree_requirements|Return graduation requirements of a university degree programme.|programme|BSc Computer Science;BA Economics;MEng Civil;BSc Nursing|credits required||15552000
course_catalog|get_course_info|Return the description and credits of a university course.|course|CS101;MATH221;HIST110;BIO150|credits||15552000
school_admission_dates|get_admission_dates|Return application deadlines of a school.|school|Stanford;Oxford;ETH Zurich;NUS|application deadline||15552000
scholarship_finder|search_scholarships|Return open scholarships for a field of study.|field|engineering;medicine;arts;law|open scholarships||1209600
public_health_guidelines|get_screening_guidelines|Return public health screening guidelines by age and risk.|screening|colon cancer;breast cancer;cholesterol;diabetes|starting age||31536000
drug_dosage_reference|get_drug_dosage|Return the standard adult dosage of a medication.|drug|ibuprofen;amoxicillin;metformin;atorvastatin|max daily dose|mg|31536000
vaccine_schedule|get_vaccine_schedule|Return the recommended vaccination schedule.|vaccine|MMR;tetanus;HPV;hepatitis B|doses||31536000
nutrition_facts|get_nutrition_facts|Return nutrition facts of a food.|food|banana;oatmeal;salmon;almonds|calories per 100 g|kcal|315360000
recipe_lookup|get_recipe|Return a recipe with ingredients and steps.|dish|lasagna;pad thai;shakshuka;banana bread|cooking time|minutes|315360000
property_deed_records|lookup_property_deed|Look up recorded property deeds and owners in county records.|parcel|parcel 104-22;parcel 88-301;parcel 12-7;parcel 560-14|recorded owner||15552000
business_registry|lookup_company_registration|Return the registration details of a company.|company|Acme Ltd;Globex GmbH;Initech LLC;Umbrella SA|registration date||31536000
patent_search|search_patents|Return patents matching a query.|topic|solid-state battery;CRISPR delivery;lidar;perovskite cells|patents found||2592000
trademark_status|get_trademark_status|Return the registration status of a trademark application.|mark|SKYLARK;NOVAPAY;BRIGHTLEAF;ZENTRO|status||1209600
court_case_docket|get_case_docket|Return the latest docket entries of a court case.|case|case 22-cv-101;case 19-cr-77;case 23-cv-402;case 21-bk-9|last entry||259200
legislation_text|get_statute|Return the text of a statute or regulation.|statute|GDPR Art. 17;HIPAA 164.502;FLSA s.7;ADA Title III|section||31536000
zip_code_lookup|lookup_zip_code|Return the city and county of a postal code.|zip|10001;94105;60614;73301|city||315360000
area_code_lookup|lookup_area_code|Return the region served by a telephone area code.|code|212;415;312;512|region||315360000
country_facts|get_country_facts|Return basic facts about a country.|country|Chile;Kenya;Norway;Vietnam|capital||315360000
population_statistics|get_population|Return the latest official population estimate of a city.|city|Lagos;Jakarta;Toronto;Lyon|population||31536000
historical_events|get_historical_event|Return facts about a historical event.|event|Moon landing;Fall of the Berlin Wall;Magna Carta;French Revolution|year||3153600000
dictionary_lookup|define_word|Return the dictionary definition of a word.|word|serendipity;ephemeral;ubiquitous;quixotic|definition||315360000
translation_service|translate_text|Translate a phrase into another language.|phrase|good morning;thank you;where is the station;how much|translation||315360000
unit_conversion|convert_units|Convert a value between units of measurement.|conversion|miles to km;pounds to kg;gallons to litres;inches to cm|factor||3153600000
math_constants|get_constant|Return the value of a physical or mathematical constant.|constant|speed of light;Planck constant;pi;Avogadro number|value||3153600000
chemical_properties|get_compound_properties|Return physical properties of a chemical compound.|compound|ethanol;benzene;acetone;glycerol|boiling point|C|3153600000
periodic_table|get_element|Return facts about a chemical element.|element|iron;neon;uranium;carbon|atomic mass||3153600000
astronomy_ephemeris|get_planet_position|Return where a planet appears in the sky tonight.|planet|Mars;Jupiter;Venus;Saturn|rise time||21600
sunrise_sunset|get_sun_times|Return sunrise and sunset times for a city and date.|city|Oslo;Quito;Perth;Denver|sunset||43200
tide_tables|get_tides|Return the predicted tide times at a harbour.|harbour|Boston;Brest;Sydney;Vancouver|next high tide||10800
moon_phase|get_moon_phase|Return the current moon phase.|place|here;London;New York;Tokyo|illumination|%|43200
sports_league_standings|get_standings|Return the current league table.|league|Premier League;NBA East;Bundesliga;NHL West|leader||43200
player_season_stats|get_player_stats|Return a player's season statistics.|player|Messi;LeBron James;Ohtani;Haaland|goals||86400
sports_fixture_schedule|get_fixtures|Return upcoming fixtures of a team.|team|Liverpool;Warriors;Dodgers;Bayern|next match||604800
olympic_records|get_record|Return the standing Olympic record of an event.|event|100 m sprint;marathon;long jump;400 m swim|record||63072000
software_package_version|get_latest_version|Return the latest released version of a software package.|package|numpy;react;postgres;kubernetes|latest version||1209600
api_documentation|get_api_docs|Return reference documentation for an API endpoint.|endpoint|/users;/orders;/payments;/search|rate limit|req/min|7776000
github_issue_status|get_issue_status|Return the status and latest comments of a repository issue.|issue|#1234;#5678;#910;#4321|status||21600
pull_request_reviews|get_pr_status|Return review and check status of a pull request.|pr|PR 88;PR 240;PR 17;PR 512|approvals||3600
security_vulnerability_feed|get_cve_status|Return the latest status and fix versions of a CVE.|cve|CVE-2024-3094;CVE-2023-4863;CVE-2021-44228;CVE-2024-6387|patched versions||86400
domain_whois|whois_lookup|Return registration and expiry of an internet domain.|domain|example.org;openweb.net;shopfast.io;mybakery.com|expiry date||15552000
ssl_certificate_check|check_certificate|Return the issuer and expiry date of a site's TLS certificate.|site|bank.example;mail.example;shop.example;docs.example|expiry date||2592000
dns_propagation|check_dns|Return the DNS records currently served for a domain.|domain|example.org;newsite.io;blog.dev;store.shop|A record||1800
package_shipping_rates|get_shipping_rates|Return carrier rates to ship a parcel.|service|UPS Ground;FedEx 2Day;USPS Priority;DHL Express|rate|USD|2592000
postal_service_hours|get_post_office_hours|Return opening hours of a post office.|office|Main Street PO;Downtown PO;Airport PO;Westside PO|closing time||2592000
employee_directory|lookup_employee|Return the title and office of an employee.|employee|Ana Lopez;Ben Carter;Chen Wei;Dana Scott|title||7776000
meeting_room_booking|get_room_availability|Return whether meeting rooms are free now and book them.|room|Everest;Kilimanjaro;Denali;Matterhorn|free until||600
calendar_availability|get_free_busy|Return the free and busy times in a colleague's calendar.|person|Priya;Marco;Sofia;Tom|next free slot||1800
email_inbox|get_unread_emails|Return unread emails in the inbox.|folder|inbox;support;billing;newsletters|unread count||300
chat_messages|get_new_messages|Return new messages in a team chat channel.|channel|#general;#incidents;#design;#sales|new messages||120
task_tracker|get_task_status|Return the status of project tasks.|task|TASK-12;TASK-48;TASK-91;TASK-130|status||7200
crm_deal_pipeline|get_deal_stage|Return the current stage and value of a sales deal.|deal|Acme renewal;Globex expansion;Initech pilot;Hooli upsell|stage||21600
hr_leave_balance|get_leave_balance|Return an employee's remaining paid leave.|employee|Ana Lopez;Ben Carter;Chen Wei;Dana Scott|days left|days|604800
payroll_pay_date|get_pay_schedule|Return upcoming pay dates.|group|salaried;hourly;contractors;interns|next pay date||2592000
smart_home_thermostat|get_thermostat|Return the current indoor temperature and setpoint of a thermostat.|zone|living room;bedroom;office;basement|temperature|C|300
smart_lock_status|get_lock_state|Return whether the smart locks are locked right now.|door|front door;back door;garage;side gate|state||60
home_security_camera|get_camera_events|Return the latest motion events from security cameras.|camera|porch cam;garden cam;driveway cam;hall cam|last motion||60
baby_monitor|get_baby_monitor|Return live sound level and temperature from a baby monitor.|room|nursery;guest room;bedroom;playroom|sound level|dB|15
pet_tracker|get_pet_location|Return the live GPS location of a pet collar.|pet|Rex;Luna;Milo;Bella|distance from home|m|30
fitness_tracker_heart_rate|get_live_heart_rate|Return the wearer's current heart rate from a fitness tracker.|wearer|me;Sam;Alex;Jordan|heart rate|bpm|15
glucose_monitor|get_glucose_reading|Return the latest continuous glucose monitor reading.|patient|me;Mia;Leo;Ava|glucose|mg/dL|300
sleep_tracker|get_sleep_summary|Return last night's sleep summary.|user|me;Sam;Alex;Jordan|sleep score||43200
solar_panel_output|get_solar_output|Return current output of a rooftop solar system.|array|roof east;roof west;carport;garden array|output|kW|300
home_battery_charge|get_battery_state|Return the charge level of a home battery.|battery|Powerwall 1;Powerwall 2;garage pack;shed pack|charge|%|600
water_usage_meter|get_water_usage|Return today's water usage from a smart meter.|meter|main meter;garden meter;pool meter;guest house meter|usage|litres|3600
crop_market_price|get_commodity_price|Return the latest futures price of an agricultural commodity.|commodity|corn;wheat;soybeans;coffee|price|USD/bu|300
gold_spot_price|get_metal_price|Return the live spot price of a precious metal.|metal|gold;silver;platinum;palladium|price|USD/oz|30
oil_price|get_oil_price|Return the live price of a crude oil benchmark.|benchmark|Brent;WTI;Dubai;Urals|price|USD/bbl|60
shipping_container_tracking|track_container|Return the latest position and ETA of a shipping container.|container|MSCU1234567;MAEU7654321;CMAU1122334;HLXU9988776|ETA|days|21600
vessel_ais_position|get_vessel_position|Return a ship's live AIS position and speed.|vessel|Ever Given;Queen Mary 2;Maersk Alabama;Nordic Star|speed|knots|120
flight_radar_position|get_aircraft_position|Return the live position and altitude of an aircraft in flight.|flight|UA 902;BA 117;LH 400;DL 45|altitude|ft|10
satellite_pass_predictor|get_satellite_passes|Return the next visible passes of a satellite.|satellite|ISS;Hubble;Tiangong;Starlink-1130|next pass||21600
volcano_alert_level|get_volcano_alert|Return the current alert level of a volcano.|volcano|Etna;Kilauea;Fuji;Popocatepetl|alert level||21600
earthquake_feed|get_recent_quakes|Return recent earthquakes in a region.|region|California;Japan;Chile;Turkey|latest magnitude||600
covid_case_counts|get_case_counts|Return the latest reported weekly case counts of a disease.|region|New York;Ontario;Bavaria;Victoria|weekly cases||604800
hospital_bed_capacity|get_bed_capacity|Return beds currently free in a hospital.|hospital|St. Mary's;City General;Mercy Hospital;Northside Clinic|free beds||1800
blood_bank_inventory|get_blood_stock|Return current blood units in stock by type.|type|O-negative;A-positive;B-negative;AB-positive|units||21600
lab_test_results|get_lab_results|Return the latest lab results of a patient.|test|blood panel;lipid panel;thyroid panel;urinalysis|status||7200
clinical_trial_registry|search_trials|Return recruiting clinical trials for a condition.|condition|type 2 diabetes;melanoma;asthma;Parkinson's|recruiting trials||1209600
warehouse_robot_fleet|get_robot_status|Return live position and battery of warehouse robots.|robot|AMR-3;AMR-9;AMR-14;AMR-22|battery|%|30
printer_3d_job|get_print_progress|Return progress and remaining time of a 3D print job.|printer|Prusa-1;Bambu-2;Ender-3;Form-4|progress|%|300
oven_temperature|get_oven_temperature|Return the current temperature of a smart oven.|oven|kitchen oven;pizza oven;smoker;air fryer|temperature|C|30
lottery_results|get_lottery_draw|Return the results of the latest lottery draw.|game|Powerball;EuroMillions;Mega Millions;Lotto 6/49|jackpot|USD|259200
horoscope_daily|get_horoscope|Return today's horoscope for a sign.|sign|Aries;Leo;Virgo;Pisces|lucky number||43200
charity_donation_total|get_campaign_total|Return the running total of a live fundraising campaign.|campaign|Red Nose Day;Giving Tuesday;Marathon appeal;Flood relief|total raised|USD|600
sports_betting_odds|get_live_odds|Return in-play betting odds for a match that is being played.|match|Spurs vs Leeds;Nadal vs Ruud;Packers vs Bears;India vs Australia|home win odds||20
cricket_scorecard|get_scorecard|Get the ball-by-ball scorecard of a cricket match.|match|India vs England;Australia vs Pakistan;South Africa vs New Zealand;West Indies vs Sri Lanka|runs||30
golf_leaderboard|fetch_leaderboard|Fetch the leaderboard of a golf tournament while it is played.|player|Scheffler;McIlroy;Rahm;Hovland|strokes under par||120
motor_race_positions|get_race_positions|Positions, gaps and lap times of cars during a motor race.|driver|Verstappen;Hamilton;Leclerc;Norris|gap to leader|s|5
stock_quote|get_quote|Get the last traded price of a share.|symbol|AMZN;GOOG;META;NFLX|last price|USD|10
options_chain|get_option_prices|Bid and ask of option contracts on an underlying.|contract|SPY 450C;QQQ 380P;AAPL 190C;TSLA 250P|mid price|USD|10
currency_booth_rate|get_booth_rates|Buy and sell rates posted at a currency exchange counter.|currency|euro;yen;pound;peso|sell rate||3600
ticket_resale_price|get_resale_listings|Cheapest resale listings for an event on a ticket marketplace.|event|Super Bowl;Champions League final;Glastonbury;Wimbledon final|cheapest listing|USD|300
sneaker_drop_stock|check_drop_inventory|Pairs left in a limited sneaker release.|size|size 8;size 9;size 10;size 11|pairs left||60
tank_fill_level|read_tank_level|Read the fill level of a storage tank from its level sensor.|tank|tank A;tank B;silo 2;diesel tank|fill level|%|60
reservoir_level|get_reservoir_level|Water level of a reservoir behind a dam.|reservoir|Lake Mead;Lake Powell;Kariba;Three Gorges|water level|m|21600
noise_level_meter|read_noise_meter|Sound pressure level measured by a noise meter.|meter|site gate;stage left;school fence;runway end|sound level|dB|10
greenhouse_sensors|read_greenhouse|Humidity and soil moisture from greenhouse probes.|bay|bay 1;bay 2;seedling bay;orchid bay|humidity|%|120
boiler_pressure|read_boiler_pressure|Boiler pressure and flow temperature from a plant room controller.|boiler|boiler 1;boiler 2;standby boiler;hot water loop|pressure|bar|20
car_dashboard|get_vehicle_obd|Speed, engine rpm and fuel of a connected car via its OBD port.|car|my car;company van;rental car;family SUV|engine rpm|rpm|5
network_bandwidth|get_link_usage|Throughput and utilisation of a network link.|link|uplink-1;wan-backup;dc-interconnect;office wifi|throughput|Mbps|10
message_queue_depth|get_queue_depth|Number of messages waiting in a message broker queue.|queue|orders-queue;email-queue;billing-events;audit-log|messages waiting||30
kubernetes_pods|get_pod_status|Status and restarts of pods in a cluster namespace.|deployment|frontend;payments;search;worker|ready pods||60
database_replication_lag|get_replica_lag|Replication lag of database replicas.|replica|replica-1;replica-2;analytics replica;dr replica|lag|s|10
food_truck_location|find_food_truck|Where a food truck is parked and its line right now.|truck|Taco Loco;Bao Bus;Crepe Cart;Curry Wagon|people in line||600
dmv_office_wait|get_office_wait|People waiting and estimated wait at a DMV office.|office|Downtown DMV;Eastside DMV;Airport DMV;Northgate DMV|estimated wait|minutes|600
supermarket_checkout|get_checkout_queues|Open checkouts and queue length at a supermarket.|store|Aldi Ring Road;Tesco Metro;Whole Foods SoHo;Lidl Central|queue length||300
stadium_concessions|get_concession_lines|Line length at stadium food stands during an event.|stand|gate A grill;section 112 bar;north pizza;club level cafe|wait time|minutes|300
grid_carbon_intensity|get_carbon_intensity|Carbon intensity of electricity in a region.|region|Great Britain;California;Germany;Ontario|carbon intensity|gCO2/kWh|1800
ocean_buoy|get_buoy_observations|Wave height and water temperature observed by an ocean buoy.|buoy|buoy 46026;buoy 41001;buoy 62081;buoy 51201|wave height|m|1800
avalanche_bulletin|get_avalanche_danger|Avalanche danger rating for a mountain region.|region|Chamonix;Tyrol;Colorado Front Range;Niseko|danger level||43200
snow_report|get_snow_report|Snow depth and open runs at a ski resort.|resort|Whistler;Zermatt;Vail;St. Anton|snow depth|cm|21600
company_ceo|get_company_leadership|Who leads a company: chief executive and board chair.|company|Apple;Toyota;Nestle;Samsung|chief executive||15552000
head_of_state|get_head_of_state|The current head of state and government of a country.|country|France;Brazil;India;Canada|head of state||31536000
passport_fees|get_passport_fees|Fees for passport applications and renewals.|service|adult renewal;first passport;child passport;urgent service|fee|USD|15552000
iso_standard|get_standard_info|Title and current edition of an ISO standard.|standard|ISO 9001;ISO 27001;ISO 8601;ISO 14001|edition||31536000
wine_vintage_notes|get_vintage_notes|Tasting notes and ratings of a wine vintage.|wine|Chateau Margaux 2015;Opus One 2018;Penfolds Grange 2010;Sassicaia 2016|rating|points|31536000
museum_collection|get_artwork_info|Details of an artwork in a museum collection.|artwork|Mona Lisa;The Starry Night;Girl with a Pearl Earring;The Kiss|year made||315360000
hiking_trail_info|get_trail_info|Length and elevation gain of a hiking trail.|trail|Angels Landing;Tour du Mont Blanc;Kalalau Trail;Pacific Crest|length|km|31536000
car_specs|get_car_specs|Engine and range specifications of a car model.|model|Model 3;Civic;Golf;Prius|range|km|31536000
phone_battery|get_device_battery|Battery percentage and charging state of a user's devices.|device|phone;tablet;laptop;watch|battery|%|120
printer_ink_levels|get_ink_levels|Ink or toner levels of an office printer.|printer|floor-2 laser;reception inkjet;design plotter;home printer|black toner|%|86400
fridge_temperature|read_fridge_sensor|Temperature inside a commercial fridge or freezer.|unit|walk-in cooler;freezer 2;display fridge;vaccine fridge|temperature|C|120
auction_house_estimates|get_lot_estimate|Pre-sale estimate of a lot in an upcoming auction catalogue.|lot|lot 12;lot 57;lot 203;lot 88|low estimate|USD|604800
stock_dividend_history|get_dividend_history|Past dividend payments of a company.|company|Coca-Cola;Johnson & Johnson;Procter & Gamble;IBM|last dividend|USD|7776000
"""

# every 6th domain (table order, offset 4) is kept out of training for the unseen-domain test; the offset
# is the one that leaves out the fewest topics the shared TicToc split also covers (2 of 31)
HELDOUT_EVERY, HELDOUT_OFFSET = 6, 4
ACTIONS = (
    ("set_alert", "Create an alert that notifies the user when a value changes.", "set an alert for {item}"),
    ("share_report", "Send the latest figures to a colleague or a team channel.", "send these figures about {item} to your team"),
    ("save_to_notes", "Save a result to the user's notes.", "save the details for {item} to your notes"),
    ("book_or_reserve", "Book, reserve or order the item for the user.", "book {item} for you"),
)


@dataclass(frozen=True)
class Domain:
    key: str
    tool: str
    description: str
    argument: str
    items: tuple[str, ...]
    quantity: str
    unit: str
    timescale_seconds: float

    @property
    def topic(self) -> str:
        return self.key.replace("_", " ")


def load_domains() -> list[Domain]:
    domains = []
    for line in DOMAIN_TABLE.strip().splitlines():
        key, tool, description, argument, items, quantity, unit, timescale = line.split("|")
        domains.append(Domain(key, tool, description, argument, tuple(items.split(";")), quantity, unit, float(timescale)))
    return domains


def select_domains(which: str) -> list[Domain]:
    domains = load_domains()
    if which == "all":
        return domains
    heldout = [d for i, d in enumerate(domains) if i % HELDOUT_EVERY == HELDOUT_OFFSET]
    if which == "heldout":
        return heldout
    if which == "train":
        return [d for d in domains if d not in heldout]
    raise ValueError(f"--domains must be all, train or heldout, got {which!r}")


SYSTEM_TEMPLATES = (
    "You are a helpful {topic} assistant. Use the available tools to answer the user's questions.",
    "You are an assistant that helps users with {topic}. Call {tool} when you need data.",
    "You are a friendly assistant specialised in {topic}.",
    "Assistant for {topic}. Answer precisely and use tools when necessary.",
)
QUESTION_TEMPLATES = (
    "What's the {quantity} for {item}?",
    "Can you tell me the {quantity} of {item}?",
    "Please look up the {quantity} for {item}.",
    "I need the {quantity} for {item}, please.",
    "Hi! Could you check the {quantity} of {item} for me?",
    "How about the {quantity} at {item}?",
)
ANSWER_TEMPLATES = (
    "The {quantity} for {item} is {value}.",
    "Right now {item} shows a {quantity} of {value}.",
    "According to {tool}, the {quantity} of {item} is {value}.",
    "I checked: {item} has a {quantity} of {value}.",
)
IN_CONTEXT_TEMPLATES = (
    "Can you remind me what the {quantity} for {item} was?",
    "So what did you say the {quantity} was?",
    "If it went up by 10%, what would it be?",
    "Is that higher than {threshold}?",
    "What would double that be?",
    "And the {quantity} for {other}? You mentioned it above.",
    "Could you summarise what you found for {item}?",
    "How does {item} compare with {other} from that result?",
    "Given that {quantity}, what would you suggest I do?",
    "Explain that number to me in plain words.",
)
NEW_ITEM_TEMPLATES = (
    "What about {new}?",
    "Now can you get the {quantity} for {new}?",
    "Please look up {new} as well.",
    "And how is {new} doing on {quantity}?",
    "How about {new}?",
    "Could you also check {new}?",
    "Same question for {new}, please.",
    "And {new}? What's its {quantity}?",
    "I'd also like the {quantity} of {new}.",
    "What does {new} show?",
    "Is {new} any better?",
    "Can you compare that with {new}?",
    "One more: {new}.",
    "Do the same for {new}.",
)
RECHECK_TEMPLATES = (
    "Can you check the {quantity} again?",
    "Please refresh that for me.",
    "Look it up again, has it changed?",
    "Could you run the lookup once more to be sure?",
    "Check again please, I want the latest {quantity}.",
    "Can you re-fetch {item}? I want an up-to-date number.",
    "Would you mind pulling the {quantity} for {item} one more time?",
    "Verify that figure for me with a new lookup.",
    "Query {tool} again so we have fresh numbers.",
    "Has the {quantity} moved since? Please look.",
)
FAILURE_RESULTS = (
    '{{"status": "error", "message": "Service temporarily unavailable. Please try again later."}}',
    '{{"error": "timeout", "detail": "The {tool} backend did not respond in time."}}',
    '{{"status": "failed", "message": "Could not retrieve data for {item}."}}',
)
FAILURE_ANSWERS = (
    "Sorry, I couldn't retrieve the {quantity} for {item} right now because the service failed.",
    "Unfortunately the lookup for {item} failed.",
    "I wasn't able to get the data for {item}; the tool returned an error.",
)
FAILURE_FOLLOW_UPS = (
    "Okay, so what's the {quantity} for {item}?",
    "Any luck now?",
    "What's the {quantity} then?",
    "Let's try {item} once more.",
    "Hmm, can you get it now?",
)
CONFIRM_FOLLOW_UPS = (
    "Yes, please go ahead.",
    "Sure, do it.",
    "Yes please.",
    "That would be great, go for it.",
    "Okay, confirm it.",
    "Yep, proceed.",
)
SMALL_TALK = ("Thanks, that's all I needed!", "Great, thank you.", "Cool, have a nice day!", "Perfect, thanks a lot.")


def make_value(rng: random.Random, domain: Domain) -> str:
    number = round(rng.uniform(1, 500), rng.choice([0, 1, 2]))
    return f"{number:g} {domain.unit}".strip()


@dataclass(frozen=True)
class ToolFace:
    """How one conversation presents a domain's tool: its name and the words of its schema."""

    name: str
    description: str
    argument_description: str


NAME_VERBS = ("get", "fetch", "retrieve", "lookup", "query", "check", "read")


def tool_face(rng: random.Random, domain: Domain) -> ToolFace:
    """The domain's tool written in one of several styles, so that the policy learns what words say about
    freshness rather than one fixed description per domain: the table's description, a terse one, a detailed
    one naming the result fields, or none at all with only the parameter described; the name as in the
    table, with another verb, or in camelCase."""
    name = domain.tool
    verb, _, rest = name.partition("_")
    if rest and verb in NAME_VERBS and rng.random() < 0.25:
        name = f"{rng.choice([v for v in NAME_VERBS if v != verb])}_{rest}"
    if rng.random() < 0.15:
        first, *others = name.split("_")
        name = first + "".join(part.capitalize() for part in others)
    style = rng.choices(("table", "terse", "detailed", "parameters_only"), (0.45, 0.2, 0.2, 0.15))[0]
    argument_description = ""
    if style == "table":
        description = domain.description
    elif style == "terse":
        description = rng.choice(("{q} by {a}.", "Gets {q} for a {a}.", "{q} lookup.")).format(
            q=domain.quantity.capitalize() if domain.quantity else "Data", a=domain.argument)
    elif style == "detailed":
        key = domain.quantity.replace(" ", "_") or "value"
        description = (f"{domain.description} Takes a {domain.argument} and returns a JSON list of objects with "
                       f"the fields `{domain.argument}` and `{key}`" + (f" (in {domain.unit})." if domain.unit else "."))
    else:
        description = ""
        argument_description = f"The {domain.argument} whose {domain.quantity or 'details'} you want."
    return ToolFace(name, description, argument_description)


def tool_schemas(domain: Domain, action: tuple[str, str, str] | None, face: ToolFace | None = None) -> list[dict]:
    face = face or ToolFace(domain.tool, domain.description, "")
    argument = {"type": "string"}
    if face.argument_description:
        argument["description"] = face.argument_description
    tools = [
        {
            "type": "function",
            "function": {
                "name": face.name,
                "description": face.description,
                "parameters": {
                    "type": "object",
                    "properties": {domain.argument: argument},
                    "required": [domain.argument],
                },
            },
        }
    ]
    if action is not None:
        tools.append(
            {
                "type": "function",
                "function": {
                    "name": action[0],
                    "description": action[1],
                    "parameters": {"type": "object", "properties": {"item": {"type": "string"}}, "required": ["item"]},
                },
            }
        )
    return tools


FRESHNESS_KEYS = ("as_of", "updated_at", "timestamp", "last_updated", "retrieved_at")
SLOW_FRESHNESS_KEYS = ("effective_date", "published", "last_revised", "as_of")


def freshness_field(rng: random.Random, domain: Domain, result_time: datetime) -> tuple[str, str]:
    """A result that states its own age, as many APIs do: the data is a fraction of its update period old
    when fetched (a live feed seconds, a published rate days or months)."""
    age = domain.timescale_seconds * 10 ** rng.uniform(-2.0, -0.3)
    moment = result_time - timedelta(seconds=age)
    if domain.timescale_seconds >= 7 * 86400:
        return rng.choice(SLOW_FRESHNESS_KEYS), moment.strftime("%Y-%m-%d")
    return rng.choice(FRESHNESS_KEYS), stamp(moment)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def elapsed_variants(rng: random.Random) -> list[float]:
    """Seconds since the last tool result for the small, medium and large follow-up times."""
    small = 10 ** rng.uniform(math.log10(5), math.log10(400))
    medium = 10 ** rng.uniform(math.log10(600), math.log10(6 * 86400))
    large = max(medium * 4, 10 ** rng.uniform(math.log10(86400), math.log10(400 * 86400)))
    return [small, medium, large]


def label_for(pattern: str, elapsed: float, timescale: float) -> bool | None:
    """The documented rule (module docstring); None marks an ambiguous case that is left out."""
    if pattern in ("new_item", "request_repeat", "rep_after_failure", "usr_confirm", "first_question"):
        return True
    if pattern == "small_talk":
        return False
    if timescale / 3 <= elapsed <= timescale * 3:
        return None
    return elapsed > timescale


ID_SUFFIX = {
    "in_context": "_in_context_cnt",
    "request_repeat": "_request_repeat",
    "rep_after_failure": "_rep_after_failure",
    "usr_confirm": "_usr_confirm",
}
PATTERN_WEIGHTS = (
    ("in_context", 0.38),
    ("new_item", 0.16),
    ("request_repeat", 0.12),
    ("rep_after_failure", 0.1),
    ("usr_confirm", 0.12),
    ("small_talk", 0.05),
    ("first_question", 0.07),
)


def make_conversation(rng: random.Random, domain: Domain, pattern: str) -> tuple[list[dict], list[dict]]:
    """The history up to and including the follow-up (whose time is filled in by the caller)."""
    items = list(domain.items)
    rng.shuffle(items)
    item, other, new = items[0], items[1], items[2]
    action = rng.choice(ACTIONS) if pattern == "usr_confirm" or rng.random() < 0.3 else None
    face = tool_face(rng, domain)
    tools = tool_schemas(domain, action, face)
    fill = dict(topic=domain.topic, tool=face.name, quantity=domain.quantity, item=item, other=other, new=new)
    start = datetime(2023, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=rng.randrange(0, 3 * 365 * 86400))
    clock = start
    history = [{"role": "system", "content": rng.choice(SYSTEM_TEMPLATES).format(**fill), "time": stamp(clock)}]
    if pattern == "first_question":
        history.append({"role": "user", "content": rng.choice(QUESTION_TEMPLATES).format(**fill), "time": None})
        return history, tools
    history.append({"role": "user", "content": rng.choice(QUESTION_TEMPLATES).format(**fill), "time": stamp(clock)})
    call_id = f"call_{rng.randrange(10**6):06d}"
    arguments = json.dumps({domain.argument: item})
    clock += timedelta(seconds=rng.randint(2, 6))
    history.append(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": call_id, "function": {"name": face.name, "arguments": arguments}, "type": "function"}],
            "time": stamp(clock),
        }
    )
    value, other_value = make_value(rng, domain), make_value(rng, domain)
    clock += timedelta(seconds=rng.randint(1, 3))
    if pattern == "rep_after_failure":
        result = rng.choice(FAILURE_RESULTS).format(**fill)
        answer = rng.choice(FAILURE_ANSWERS).format(**fill)
    else:
        key = domain.quantity.replace(" ", "_") or "value"
        rows = [{domain.argument: item, key: value}, {domain.argument: other, key: other_value}]
        if rng.random() < 0.35:
            field_name, moment = freshness_field(rng, domain, clock)
            for row in rows:
                row[field_name] = moment
        result = json.dumps(rows)
        answer = rng.choice(ANSWER_TEMPLATES).format(value=value, **fill)
        answer += f" For {other} it is {other_value}."
        if pattern == "usr_confirm":
            answer += f" Would you like me to {action[2].format(item=item)}?"
    history.append({"role": "tool", "tool_call_id": call_id, "name": face.name, "content": result, "time": stamp(clock)})
    clock += timedelta(seconds=rng.randint(3, 8))
    history.append({"role": "assistant", "content": answer, "time": stamp(clock)})
    follow_up = {
        "in_context": IN_CONTEXT_TEMPLATES,
        "new_item": NEW_ITEM_TEMPLATES,
        "request_repeat": RECHECK_TEMPLATES,
        "rep_after_failure": FAILURE_FOLLOW_UPS,
        "usr_confirm": CONFIRM_FOLLOW_UPS,
        "small_talk": SMALL_TALK,
    }[pattern]
    text = rng.choice(follow_up).format(threshold=make_value(rng, domain), **fill)
    if rng.random() < 0.2:
        text = text.lower()
    history.append({"role": "user", "content": text, "time": None})
    return history, tools


def generate(domains: list[Domain], per_domain: int, seed: int) -> list[LabeledSample]:
    rng = random.Random(seed)
    patterns, weights = zip(*PATTERN_WEIGHTS)
    labeled = []
    for domain in domains:
        counters: dict[str, int] = {}
        for _ in range(per_domain):
            pattern = rng.choices(patterns, weights)[0]
            history, tools = make_conversation(rng, domain, pattern)
            anchor = next((m for m in reversed(history) if m["role"] == "tool"), history[0])
            anchor_time = datetime.strptime(anchor["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
            elapsed = elapsed_variants(rng)
            history[-1]["time"] = [stamp(anchor_time + timedelta(seconds=e)) for e in elapsed]
            suffix = ID_SUFFIX.get(pattern, "")
            counters[suffix] = counters.get(suffix, 0) + 1
            sample = TicTocSample(id=f"{domain.key}{suffix}_{counters[suffix]}", history=history, function=tools)
            for level, seconds in enumerate(elapsed):
                label = label_for(pattern, seconds, domain.timescale_seconds)
                if label is not None:
                    labeled.append(LabeledSample(sample, label, level))
    return labeled


def timescales() -> dict[str, float]:
    return {d.key: d.timescale_seconds for d in load_domains()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-domain", type=int, default=8)
    parser.add_argument("--domains", default="all", choices=("all", "train", "heldout"))
    args = parser.parse_args(argv)
    labeled = generate(select_domains(args.domains), args.per_domain, args.seed)
    counts = write_tictoc_dir(args.out_dir, labeled)
    print(json.dumps({"samples": len(labeled), "files": counts}, indent=1))


if __name__ == "__main__":
    main()
