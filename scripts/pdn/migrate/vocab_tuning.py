"""The tuning split of the long-tail generator: the dedup method may be tuned on this one.

Disjoint from ``vocab_heldout`` and from the glossary's words (tests/unit/migrate check it).
"""

from __future__ import annotations

from pdn.migrate.longtail import Vocabulary, term

TUNING = Vocabulary(
    name="tuning",
    actions=(
        term("booking", "pemesanan|pesan|memesan", "booking|reservation"),
        term("payment", "pembayaran|bayar|membayar", "payment|paying"),
        term("mapping", "pemetaan|peta|memetakan", "mapping|map"),
        term("queue", "antrean|antrian|antre", "queue|queueing"),
        term("storage", "penyimpanan|simpan|menyimpan", "storage|storing"),
        term("request", "permohonan|pengajuan|mengajukan", "request|submission"),
        term("survey", "survei|menyurvei", "survey|polling"),
        term("record", "pencatatan|catat|mencatat|registrasi", "recording|logbook"),
        term("repair", "perbaikan|memperbaiki|reparasi", "repair|fixing"),
    ),
    objects=(
        term("meeting-room", "ruang rapat|ruang pertemuan", "meeting room|conference room"),
        term("sports-field", "lapangan|lapangan olahraga", "sports field|playing field"),
        term("shuttle-bus", "bus antar jemput", "shuttle bus"),
        term("hearse", "mobil jenazah", "hearse"),
        term("tractor", "traktor", "tractor"),
        term("cattle", "sapi|ternak sapi", "cattle|cow"),
        term("fish", "ikan", "fish"),
        term("rice", "beras", "rice"),
        term("sugar", "gula", "sugar"),
        term("cooking-oil", "minyak goreng", "cooking oil"),
        term("fuel", "bensin|bahan bakar", "fuel|petrol"),
        term("electricity", "listrik", "electricity|power supply"),
        term("internet", "internet|wifi", "internet|wifi"),
        term("canteen", "kantin", "canteen"),
        term("toilet", "toilet|wc", "toilet|restroom"),
        term("shelter", "penampungan", "shelter"),
        term("orphanage", "panti asuhan", "orphanage"),
        term("cinema", "bioskop", "cinema"),
        term("hotel", "hotel|penginapan", "hotel|lodging"),
        term("restaurant", "restoran|warung makan", "restaurant"),
        term("museum", "museum", "museum"),
        term("stadium", "stadion", "stadium"),
        term("swimming-pool", "kolam renang", "swimming pool"),
        term("dormitory", "mess|asrama", "dormitory|hostel"),
        term("river", "sungai", "river"),
        term("beach", "pantai", "beach"),
        term("teacher", "guru", "teacher"),
        term("doctor", "dokter", "doctor|physician"),
        term("midwife", "bidan", "midwife"),
        term("motorcycle-taxi", "ojek", "motorcycle taxi"),
        term("book", "buku", "book"),
        term("ferry", "penyeberangan", "ferry crossing"),
    ),
    generic_objects=(
        term("village", "desa", "village"),
        term("resident", "warga", "resident|citizen"),
    ),
    generic_actions=("mapping", "survey", "payment"),
)
