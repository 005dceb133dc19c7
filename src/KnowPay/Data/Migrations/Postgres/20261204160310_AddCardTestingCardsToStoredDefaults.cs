using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace KnowPay.Data.Migrations.Postgres
{
    /// <summary>Stored policies with the three earlier built-in rules get card_testing_cards: see <see cref="CardTestingCardsBackfill"/>.</summary>
    public partial class AddCardTestingCardsToStoredDefaults : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql(CardTestingCardsBackfill.Up);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
        }
    }
}
